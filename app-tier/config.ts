/**
 * The app tier's configuration: DEFAULTS ← `--config FILE` (JSON, the keys below) ← env.
 * Pure: `main.ts` passes process.env and the flag; this module reads nothing by itself but
 * the named file.
 */
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { buildConfig, ConfigError, fields, readConfigFile, type Env, type EnvBinding } from '../common/config.js';
import { OPERATOR_HOST_ENTRY } from '../common/operator-host.js';
import { DEFAULT_MAX_REQUEST_BODY_BYTES } from './app/request-body.js';
import { DEFAULT_MAX_ARTICLE_BODY_BYTES } from './app/validation.js';
import { DATABASE_URL_EXPECTED, parseDatabaseUrl } from './store/database-url.js';

const databaseUrl = z.string({ error: `must be ${DATABASE_URL_EXPECTED}` }).superRefine((value, ctx) => {
  try {
    parseDatabaseUrl(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
  }
});

/** An IPv4/IPv6 address, or a CIDR block `address/prefix` (checked by operator-access.ts too). */
const addressOrCidr = z.string().superRefine((value, ctx) => {
  const [address = '', prefix, extra] = value.split('/');
  const family = isIP(address);
  const max = family === 4 ? 32 : 128;
  const ok = family !== 0 && extra === undefined && (prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= max));
  if (!ok) ctx.addIssue({ code: 'custom', message: `must be an IP address or CIDR block (e.g. 10.0.0.5 or 10.0.0.0/24), got ${JSON.stringify(value)}` });
});

const schema = z.object({
  host: fields.host(),
  port: fields.port(),
  /** Worker processes the primary forks (node:cluster). */
  workers: fields.positiveInt('a positive number of worker processes'),
  /** When set, article writes need `Authorization: Bearer <appToken>`. */
  appToken: z.string({ error: 'must be a non-empty string' }).min(1, 'must be a non-empty string').optional(),
  /**
   * The application to run (gunicorn's `module:app`): a path (relative to the working directory)
   * or a package name whose default export is createApp(context) (common/app-interface.ts). The
   * built-in articles application when absent.
   */
  appModule: z.string({ error: 'must be a module path or package name' }).min(1, 'must be a module path or package name').optional(),
  /** How long importing appModule plus its createApp may take at start-up before it is a start-up error. */
  appModuleTimeoutMs: fields.positiveInt('a positive number of milliseconds'),
  /**
   * gunicorn's max_requests: a worker that has served this many requests drains and exits, and
   * its supervisor starts a fresh one (a safety net for an application that leaks). 0 = never.
   */
  maxRequests: fields.nonNegativeInt('a number of requests (0 = no limit)'),
  /** gunicorn's max_requests_jitter: each worker adds a random 0..this to maxRequests, so workers do not all restart at once. */
  maxRequestsJitter: fields.nonNegativeInt('a number of requests (0 = no jitter)'),
  databaseUrl,
  logLevel: fields.logLevel(),
  /** Adds GET /api/_fault/throw (500) and /api/_fault/slow?ms= (the web tier's 504). Off unless asked for. */
  faultRoutes: z.boolean({ error: 'must be true or false' }),
  /** Django's DEBUG: a 404 from the URL table lists the patterns tried. Off: the list tells a stranger every URL. */
  debug: z.boolean({ error: 'must be true or false' }),
  /** The pause between two steps of a report job (POST /api/reports/ → 202), in milliseconds. */
  reportStepDelayMs: fields.nonNegativeInt('a number of milliseconds (0 = no pause)'),
  /** The largest article body, in bytes of UTF-8: more is 400 naming `body` (API and form alike). */
  maxArticleBodyBytes: fields.positiveInt('a positive number of bytes'),
  /** The largest request body the app parses, in bytes: more is 413 (RFC 9110 §15.5.14). */
  maxRequestBodyBytes: fields.positiveInt('a positive number of bytes'),
  /** The largest WebSocket message a client may send (/api/live), in bytes: more closes with 1009 (RFC 6455 §7.4.1). */
  wsMaxMessageBytes: fields.positiveInt('a positive number of bytes'),
  /** A WebSocket ping to every open connection this often, in ms (0: never): keeps proxies' idle timers (WEB_WS_IDLE_TIMEOUT_MS) from cutting a quiet /api/live, and cuts a peer that stopped answering. */
  wsPingIntervalMs: fields.nonNegativeInt('a number of milliseconds (0 = no pings)'),
  /** How many recent live-feed events each process keeps for a Server-Sent Events client's Last-Event-ID resume. */
  liveBufferEvents: fields.positiveInt('a positive number of events').max(100_000, 'must be a number of events (1 to 100000)'),
  /** Listen with TLS (issue 15, multi-box): the PEM certificate chain (APP_TLS_CERT) and its key (APP_TLS_KEY); both or neither (app-tier/tls.ts). */
  tlsCertFile: z.string({ error: 'must be a PEM file path' }).min(1, 'must be a PEM file path').optional(),
  tlsKeyFile: z.string({ error: 'must be a PEM file path' }).min(1, 'must be a PEM file path').optional(),
  /** How long an idle keep-alive socket is kept open (node's server.keepAliveTimeout). */
  keepAliveTimeoutMs: fields.positiveInt('a positive number of milliseconds'),
  /** Header fields in one request (Apache LimitRequestFields) → 431 above it, never truncated (node's maxHeadersCount cut). */
  maxHeaderFields: fields.positiveInt('a positive number of header fields').max(10_000, 'must be a number of header fields (1 to 10000)'),
  /** How long a client may take to send the request head (server.headersTimeout); > keepAliveTimeoutMs. */
  headersTimeoutMs: fields.positiveInt('a positive number of milliseconds'),
  /** How long a client may take to send the whole request (server.requestTimeout); 0 = unbounded. */
  requestTimeoutMs: fields.nonNegativeInt('a number of milliseconds (0 = no limit)'),
  /** On SIGTERM/SIGINT: how long in-flight requests may take before their sockets are cut. */
  shutdownTimeoutMs: fields.positiveInt('a positive number of milliseconds'),
  /**
   * On drain: how long a worker keeps answering requests that arrive on its open keep-alive
   * connections (each with `Connection: close`) before it closes the idle ones. Closing an idle
   * connection races a proxy that is sending on it; during the grace every connection the proxy
   * still uses is closed cleanly after a response instead. Part of shutdownTimeoutMs.
   */
  drainGraceMs: fields.nonNegativeInt('a number of milliseconds (0 = close idle connections at once)'),
  /** A worker that dies sooner than this after starting counts as a crash loop: back off. */
  minUptimeMs: fields.positiveInt('a positive number of milliseconds'),
  /** First back-off delay before replacing a crash-looping worker; doubles up to maxRestartDelayMs. */
  restartDelayMs: fields.positiveInt('a positive number of milliseconds'),
  maxRestartDelayMs: fields.positiveInt('a positive number of milliseconds'),
  /**
   * Who may read the operator endpoints (/metrics, /-/workers) besides loopback: addresses or
   * CIDR blocks, e.g. the web box that scrapes this app box in a multi-box placement.
   */
  operatorAllow: z.array(addressOrCidr, { error: 'must be a list of IP addresses or CIDR blocks' }),
  /**
   * Host names the operator endpoints answer besides loopback names and IP literals (any other
   * Host → 421: DNS rebinding, see common/operator-host.ts), e.g. the name the web box uses in
   * APP_UPSTREAMS when that is not an IP address.
   */
  operatorHosts: z.array(z.string().regex(OPERATOR_HOST_ENTRY, 'must be a host name without port (e.g. app1.internal)'), { error: 'must be a list of host names' }),
  /**
   * Where the cluster primary writes its pid (for `npm run reload`), relative to the working
   * directory; removed on exit.
   */
  pidFile: z.string({ error: 'must be a file path' }).min(1, 'must be a file path'),
});

export type AppConfig = Readonly<z.infer<typeof schema>>;

/**
 * keepAliveTimeoutMs: the web tier's upstream pool closes its idle sockets sooner (its
 * default is well under 65 s), so the app never closes a socket the proxy is about to reuse;
 * the race that otherwise gives the proxy ECONNRESET is nodejs/node#20256 (and the AWS ALB
 * advice to keep the backend's idle timeout above the balancer's).
 * headersTimeoutMs > keepAliveTimeoutMs: node#27363, a request arriving just before the
 * keep-alive timer fires must not be cut by the headers timer.
 */
export const DEFAULTS: AppConfig = Object.freeze({
  host: '127.0.0.1',
  port: 3000,
  workers: Math.max(2, availableParallelism()),
  appModuleTimeoutMs: 10_000,
  maxRequests: 0,
  maxRequestsJitter: 0,
  databaseUrl: 'sqlite:./data/twotier.db',
  logLevel: 'info',
  faultRoutes: false,
  debug: false,
  // DEFAULT_REPORT_STEP_DELAY_MS of app/create-app.ts (not imported: config stays light for the CGI path).
  reportStepDelayMs: 500,
  maxArticleBodyBytes: DEFAULT_MAX_ARTICLE_BODY_BYTES,
  maxRequestBodyBytes: DEFAULT_MAX_REQUEST_BODY_BYTES,
  // Above the web tier's 100 (WEB_MAX_HEADER_FIELDS): the proxy adds its own fields (X-Forwarded-*, Forwarded, Via, X-Request-Id).
  maxHeaderFields: 120,
  wsMaxMessageBytes: 65_536,
  wsPingIntervalMs: 15_000,
  liveBufferEvents: 1_000,
  keepAliveTimeoutMs: 65_000,
  headersTimeoutMs: 66_000,
  requestTimeoutMs: 300_000,
  shutdownTimeoutMs: 10_000,
  drainGraceMs: 1_000,
  minUptimeMs: 1_000,
  restartDelayMs: 100,
  maxRestartDelayMs: 30_000,
  operatorAllow: [],
  operatorHosts: [],
  pidFile: './data/app-tier.pid',
});

export const ENV_BINDINGS: Readonly<Record<string, EnvBinding>> = Object.freeze({
  APP_HOST: { key: 'host', kind: 'string' },
  APP_PORT: { key: 'port', kind: 'int' },
  APP_WORKERS: { key: 'workers', kind: 'int' },
  APP_TOKEN: { key: 'appToken', kind: 'string' },
  APP_MODULE: { key: 'appModule', kind: 'string' },
  APP_MODULE_TIMEOUT_MS: { key: 'appModuleTimeoutMs', kind: 'int' },
  APP_MAX_REQUESTS: { key: 'maxRequests', kind: 'int' },
  APP_MAX_REQUESTS_JITTER: { key: 'maxRequestsJitter', kind: 'int' },
  DATABASE_URL: { key: 'databaseUrl', kind: 'string' },
  LOG_LEVEL: { key: 'logLevel', kind: 'string' },
  APP_FAULT_ROUTES: { key: 'faultRoutes', kind: 'bool' },
  APP_DEBUG: { key: 'debug', kind: 'bool' },
  APP_REPORT_STEP_DELAY_MS: { key: 'reportStepDelayMs', kind: 'int' },
  APP_MAX_ARTICLE_BODY_BYTES: { key: 'maxArticleBodyBytes', kind: 'int' },
  APP_MAX_REQUEST_BODY_BYTES: { key: 'maxRequestBodyBytes', kind: 'int' },
  APP_WS_MAX_MESSAGE_BYTES: { key: 'wsMaxMessageBytes', kind: 'int' },
  APP_WS_PING_INTERVAL_MS: { key: 'wsPingIntervalMs', kind: 'int' },
  APP_LIVE_BUFFER_EVENTS: { key: 'liveBufferEvents', kind: 'int' },
  APP_TLS_CERT: { key: 'tlsCertFile', kind: 'string' },
  APP_TLS_KEY: { key: 'tlsKeyFile', kind: 'string' },
  APP_KEEP_ALIVE_TIMEOUT_MS: { key: 'keepAliveTimeoutMs', kind: 'int' },
  APP_HEADERS_TIMEOUT_MS: { key: 'headersTimeoutMs', kind: 'int' },
  APP_MAX_HEADER_FIELDS: { key: 'maxHeaderFields', kind: 'int' },
  APP_REQUEST_TIMEOUT_MS: { key: 'requestTimeoutMs', kind: 'int' },
  APP_SHUTDOWN_TIMEOUT_MS: { key: 'shutdownTimeoutMs', kind: 'int' },
  APP_DRAIN_GRACE_MS: { key: 'drainGraceMs', kind: 'int' },
  APP_OPERATOR_ALLOW: { key: 'operatorAllow', kind: 'list' },
  APP_OPERATOR_HOSTS: { key: 'operatorHosts', kind: 'list' },
  APP_PID_FILE: { key: 'pidFile', kind: 'string' },
});

/** Throws ConfigError naming the env var or file key at fault. */
export function loadConfig(file: string | undefined, env: Env): AppConfig {
  const fileValues = file === undefined ? undefined : readConfigFile(file);
  const config = buildConfig({ schema, defaults: DEFAULTS, envBindings: ENV_BINDINGS, fileValues, fileName: file, env });
  if (config.headersTimeoutMs <= config.keepAliveTimeoutMs) {
    const key = env['APP_HEADERS_TIMEOUT_MS'] === undefined ? 'headersTimeoutMs' : 'APP_HEADERS_TIMEOUT_MS';
    throw new ConfigError(key, `${key}: must be greater than keepAliveTimeoutMs (${config.keepAliveTimeoutMs}), got ${config.headersTimeoutMs}`);
  }
  if (config.maxRequestBodyBytes < config.maxArticleBodyBytes) {
    const key = env['APP_MAX_REQUEST_BODY_BYTES'] === undefined ? 'maxRequestBodyBytes' : 'APP_MAX_REQUEST_BODY_BYTES';
    throw new ConfigError(key, `${key}: must be at least maxArticleBodyBytes (${config.maxArticleBodyBytes}), or no article of the largest size could be sent, got ${config.maxRequestBodyBytes}`);
  }
  if ((config.tlsCertFile === undefined) !== (config.tlsKeyFile === undefined)) {
    const key = config.tlsCertFile === undefined ? 'APP_TLS_CERT' : 'APP_TLS_KEY';
    throw new ConfigError(key, `${key}: APP_TLS_CERT and APP_TLS_KEY go together (a certificate without its key, or a key without its certificate, cannot serve TLS)`);
  }
  if (config.maxRestartDelayMs < config.restartDelayMs) {
    throw new ConfigError('maxRestartDelayMs', `maxRestartDelayMs: must be at least restartDelayMs (${config.restartDelayMs}), got ${config.maxRestartDelayMs}`);
  }
  return config;
}
