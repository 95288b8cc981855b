/**
 * The web tier's configuration: DEFAULTS ← `--config FILE` (JSON, same keys) ← environment.
 * `loadConfig` is pure apart from reading the named file; only `main.ts` passes `process.env`.
 * The same keys serve one box and many: only addresses (WEB_HOST, APP_UPSTREAMS) change.
 */
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { buildConfig, ConfigError, fields, readConfigFile, type EnvBinding, type Env } from '../common/config.js';
import { DEFAULTS as APP_DEFAULTS } from '../app-tier/config.js';
import { parseDatabaseUrl, type DatabaseLocation } from '../app-tier/store/database-url.js';
import { CGI_DEFAULTS } from './cgi/handler.js';
import { PROXY_DEFAULTS } from './proxy/handler.js';
import { ACTIVE_HEALTH_DEFAULTS } from './proxy/health-check.js';
import { parseCidr } from './peer-allow.js';
import { OPERATOR_HOST_ENTRY } from '../common/operator-host.js';
import { PEER_LIMIT_DEFAULTS } from './peer-limits.js';
import { STATIC_DEFAULTS } from './static/handler.js';

const MiB = 1024 * 1024;

function httpBaseUrl(): z.ZodType<string> {
  return z.string({ error: 'must be an http:// base URL such as http://127.0.0.1:3000' }).refine((value) => {
    if (!URL.canParse(value)) return false;
    const url = new URL(value);
    // `#weight=N` weighs one upstream for the proxy's balancer; any other fragment is a typo.
    return url.protocol === 'http:' && url.hostname !== '' && url.search === '' && url.username === '' && /^(?:#weight=[1-9]\d{0,2})?$/.test(url.hash);
  }, 'must be an http:// base URL such as http://127.0.0.1:3000, optionally with #weight=N (no query or credentials)');
}

/** A URL path prefix such as "/api/": starts and ends with "/", and is not "/" itself (that would hide the static site). */
const PREFIX = /^\/[A-Za-z0-9._~!$&'()*+,;=:@-]+(?:\/[A-Za-z0-9._~!$&'()*+,;=:@-]+)*\/$/;

function pathPrefix(what: string): z.ZodType<string> {
  return z.string({ error: `must be ${what}` }).regex(PREFIX, `must be ${what}`);
}

const schema = z.object({
  host: fields.host(),
  port: fields.port(),
  /** Static files; a relative path is resolved against the package root, not the working directory. */
  root: z.string({ error: 'must be a directory path' }).min(1, 'must be a directory path'),
  /** Base URLs of the app tier, spread round-robin. Empty is allowed (embedded/cgi mode: no app tier). */
  upstreams: z.array(httpBaseUrl(), { error: 'must be a list of http:// base URLs' }),
  maxBodyBytes: fields.nonNegativeInt('a byte count (0 or more)'),
  logLevel: fields.logLevel(),
  /** How the dynamic prefixes are served: forwarded to the app tier, the app in-process, or the app per request as CGI. */
  dynamic: z.enum(['proxy', 'embedded', 'cgi'], { error: 'must be one of proxy, embedded, cgi' }),
  dynamicPrefixes: z.array(pathPrefix('a path prefix like "/api/" (starts and ends with "/")'), { error: 'must be a list of path prefixes like "/api/"' }),
  /** Host names this server answers for; another Host → 421 (RFC 9110 §15.5.20). [] = any valid Host. */
  serverNames: z.array(z.string().regex(/^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:.]+\]$/, 'must be a host name or IP address without port'), { error: 'must be a list of host names' }),
  /** Peers whose X-Forwarded-* and X-Request-Id are believed (exact IP addresses). */
  trustedProxies: z.array(z.string().refine((value) => isIP(value) !== 0, 'must be an IP address'), { error: 'must be a list of IP addresses' }),
  /** Request-target length (nginx: large_client_header_buffers 8k) → 414 above it. */
  maxUrlBytes: fields.positiveInt('a byte count (1 or more)'),
  /** Header section without the request line (node's default maxHeaderSize, 16 KiB) → 431 above it. */
  maxHeaderBytes: fields.positiveInt('a byte count (1 or more)'),
  /** Header fields in one request (Apache LimitRequestFields 100) → 431 above it; never truncated. */
  maxHeaderFields: fields.positiveInt('a number of header fields (1 or more)').max(10_000, 'must be a number of header fields (1 to 10000)'),
  /** After an early error answer, read and discard what the client still sends for at most this long (nginx lingering_time). */
  lingeringTimeMs: fields.nonNegativeInt('a number of milliseconds (0 = close at once)'),
  /** … and stop when nothing arrived for this long (nginx lingering_timeout). */
  lingeringTimeoutMs: fields.positiveInt('a number of milliseconds (1 or more)'),
  /** … and stop after this many discarded bytes. */
  lingeringMaxBytes: fields.nonNegativeInt('a byte count (0 or more)'),
  /** Whole header section must arrive within this (slowloris). */
  headersTimeoutMs: fields.positiveInt('a number of milliseconds (1 or more)'),
  /** Whole request, body included, must arrive within this. */
  requestTimeoutMs: fields.positiveInt('a number of milliseconds (1 or more)'),
  keepAliveTimeoutMs: fields.positiveInt('a number of milliseconds (1 or more)'),
  /** Graceful close: in-flight requests get this long before their sockets are cut. */
  shutdownTimeoutMs: fields.nonNegativeInt('a number of milliseconds (0 or more)'),
  staticIndex: z.string({ error: 'must be a file name' }).regex(/^[^/\\]+$/, 'must be a file name without slashes'),
  /** URL prefixes where a directory listing is on, like python -m http.server; [] = nowhere. */
  listingDirs: z.array(z.string().startsWith('/', 'must start with "/"'), { error: 'must be a list of path prefixes' }),
  /** First matching rule wins: { prefix?: "/assets/", pattern?: "regexp", value: "public, max-age=…" }. */
  cacheControl: z.array(z.object({
    prefix: z.string().startsWith('/', 'must start with "/"').optional(),
    pattern: z.string().refine((value) => { try { new RegExp(value); return true; } catch { return false; } }, 'must be a valid regular expression').optional(),
    value: z.string().min(1, 'must be a Cache-Control value'),
  }).strict(), { error: 'must be a list of { prefix?, pattern?, value } rules' }),
  followOutsideSymlinks: z.boolean({ error: 'must be true or false' }),
  staticCacheMaxBytes: fields.nonNegativeInt('a byte count (0 or more)'),
  staticCacheMaxFileBytes: fields.nonNegativeInt('a byte count (0 or more)'),
  staticStatTtlMs: fields.nonNegativeInt('a number of milliseconds (0 or more)'),
  proxyConnectTimeoutMs: fields.positiveInt('a number of milliseconds (1 or more)'),
  proxyResponseTimeoutMs: fields.positiveInt('a number of milliseconds (1 or more)'),
  proxyMaxSocketsPerUpstream: fields.positiveInt('a positive integer'),
  /** Must stay below the app tier's keepAliveTimeout (nodejs/node#20256). */
  proxyKeepAliveIdleMs: fields.positiveInt('a number of milliseconds (1 or more)'),
  proxyRetryIdempotentOnReset: z.boolean({ error: 'must be true or false' }),
  proxyBalance: z.enum(['round-robin', 'least-conn'], { error: 'must be round-robin or least-conn' }),
  /** Between two chunks of an upstream's response body. */
  proxyBodyIdleTimeoutMs: fields.positiveInt('a number of milliseconds (1 or more)'),
  /** Requests waiting for an upstream slot at most (beyond → 503 + Retry-After). */
  proxyMaxQueue: fields.nonNegativeInt('a count (0 or more)'),
  proxyQueueTimeoutMs: fields.positiveInt('a number of milliseconds (1 or more)'),
  /** Active GET /readyz checks of each upstream every this often; 0 = passive health only. */
  proxyHealthIntervalMs: fields.nonNegativeInt('a number of milliseconds (0 = off)'),
  /** plain (default: node's http.request) or http-proxy, with the same passes (issue 8 comparison). */
  proxyEngine: z.enum(['http-proxy', 'plain'], { error: 'must be http-proxy or plain' }),
  /** Request bodies up to this are kept while they stream so a retry can resend them. */
  proxyMaxReplayBodyBytes: fields.nonNegativeInt('a byte count (0 or more)'),
  /**
   * Request buffering (nginx proxy_request_buffering on): every body up to maxBodyBytes is read
   * whole before it takes an upstream slot (slow uploads, issue 12); up to this many bytes in
   * memory (nginx client_body_buffer_size), a larger body in a temp file. 0 = off: every body streams.
   */
  proxyBufferBodyBytes: fields.nonNegativeInt('a byte count (0 or more)'),
  /** Path prefixes whose request bodies stream to the app as they arrive (large uploads); they hold a slot meanwhile. */
  proxyStreamBodyPrefixes: z.array(pathPrefix('a path prefix like "/api/uploads/" (starts and ends with "/")'), { error: 'must be a list of path prefixes like "/api/uploads/"' }),
  /** Where bodies past proxyBufferBodyBytes are spilled (a private 0700 directory is made inside); '' = the system temp dir; relative → against the package root. */
  proxyBodyTempDir: z.string({ error: 'must be a directory path, or empty for the system temp dir' }),
  /** Bytes all spilled request bodies may take on disk at once; beyond → 503 + Retry-After. 0 = no bound but WEB_MAX_BODY per request. */
  proxyBodyTempMaxBytes: fields.nonNegativeInt('a byte count (0 = no bound)'),
  /** Retries allowed as a percentage of requests over the budget window. */
  proxyRetryBudgetPercent: fields.nonNegativeInt('a percentage (0 or more)'),
  /** Retries always allowed per budget window, whatever the traffic. */
  proxyRetryBudgetMinPerWindow: fields.nonNegativeInt('a count (0 or more)'),
  proxyRetryBudgetWindowMs: fields.positiveInt('a number of milliseconds (1 or more)'),
  /** Passive health (nginx max_fails): consecutive failures within proxyFailTimeoutMs take an upstream out. */
  proxyMaxFails: fields.positiveInt('a count (1 or more)'),
  /** nginx fail_timeout: the failure window, and how long the upstream then stays out. */
  proxyFailTimeoutMs: fields.positiveInt('a number of milliseconds (1 or more)'),
  /** An active check not answered within this counts as down. */
  proxyHealthTimeoutMs: fields.positiveInt('a number of milliseconds (1 or more)'),
  proxyHealthPath: z.string({ error: 'must be a path such as /readyz' }).regex(/^\/[^\s?#]*$/, 'must be a path such as /readyz'),
  /** Peers allowed on the operator endpoints (/-/…): IP addresses or CIDR blocks. Loopback only by default. */
  operatorAllow: z.array(z.string().refine((value) => parseCidr(value) !== undefined, 'must be an IP address or CIDR block such as 10.0.0.0/8'), { error: 'must be a list of IP addresses or CIDR blocks' }),
  /** Host names the operator endpoints answer besides loopback names and IP literals; any other Host → 421 (DNS rebinding, common/operator-host.ts). */
  operatorHosts: z.array(z.string().regex(OPERATOR_HOST_ENTRY, 'must be a host name without port (e.g. ops.example.net)'), { error: 'must be a list of host names' }),
  /** Open connections per client address (closed at accept above it; like nginx limit_conn); 0 = no cap. Trusted proxies exempt. */
  peerMaxConnections: fields.nonNegativeInt('a count of connections (0 = no cap)'),
  /** Requests per second per client, token bucket (nginx limit_req, nodelay) → 429 + Retry-After; 0 = off. */
  peerRatePerSec: fields.nonNegativeInt('a number of requests per second (0 = off)'),
  /** Requests a client may make at once before the rate applies (the bucket size). */
  peerRateBurst: fields.positiveInt('a number of requests (1 or more)'),
  /** Clients whose rate is remembered at most; the least recently seen are forgotten first. */
  peerRateMaxEntries: fields.positiveInt('a count (2 or more)').min(2, 'must be a count (2 or more)'),
  /** Web server processes (nginx worker_processes); 1 = no cluster. */
  workers: fields.positiveInt('a number of processes (1 or more)').max(64, 'must be a number of processes (1 to 64)'),
  /**
   * The CGI gateway (/cgi-bin/NAME runs a program per request). Off by default: off, /cgi-bin/ is
   * an ordinary static path and no script ever runs. WEB_DYNAMIC=cgi turns it on too (cgiEnabled).
   */
  cgi: z.boolean({ error: 'must be true or false' }),
  /** CGI scripts; relative → against the package root. */
  cgiDir: z.string({ error: 'must be a directory path' }).min(1, 'must be a directory path'),
  cgiTimeoutMs: fields.positiveInt('a number of milliseconds (1 or more)'),
  cgiMaxProcesses: fields.positiveInt('a positive integer'),
  /** Handed to the app in embedded mode and to cgi-bin/app (never the whole server env). */
  databaseUrl: z.string({ error: 'must be a database URL such as sqlite:./data/twotier.db' }).min(1, 'must be a database URL'),
  /**
   * APP_TOKEN, the app tier's write token, for the app run here: handed to the embedded app's
   * factory and to cgi-bin/app only (never to other scripts, never derived from a request).
   */
  appToken: z.string({ error: 'must be a non-empty string' }).min(1, 'must be a non-empty string').optional(),
  /**
   * APP_MAX_ARTICLE_BODY_BYTES / APP_MAX_REQUEST_BODY_BYTES, the app tier's own variables and
   * defaults, for the app run here (embedded, cgi-bin/app): an article body past the first is 400
   * naming `body`, a request body past the second 413, in every mode alike.
   */
  appMaxArticleBodyBytes: fields.positiveInt('a positive number of bytes'),
  appMaxRequestBodyBytes: fields.positiveInt('a positive number of bytes'),
});

export type WebConfig = Readonly<z.infer<typeof schema>>;

export const DEFAULTS: z.infer<typeof schema> = {
  host: '127.0.0.1',
  port: 8080,
  root: 'web-tier/public',
  upstreams: ['http://127.0.0.1:3000'],
  maxBodyBytes: 1 * MiB,
  logLevel: 'info',
  dynamic: 'proxy',
  dynamicPrefixes: ['/api/', '/articles/', '/status-codes/'],
  trustedProxies: [],
  serverNames: [],
  maxUrlBytes: 8 * 1024,
  maxHeaderBytes: 16 * 1024,
  maxHeaderFields: 100,
  lingeringTimeMs: 30_000,
  lingeringTimeoutMs: 5_000,
  lingeringMaxBytes: 64 * MiB,
  headersTimeoutMs: 20_000,
  requestTimeoutMs: 120_000,
  keepAliveTimeoutMs: 5_000,
  shutdownTimeoutMs: 10_000,
  staticIndex: STATIC_DEFAULTS.index,
  listingDirs: [...STATIC_DEFAULTS.listingDirs],
  cacheControl: STATIC_DEFAULTS.cacheControl.map((rule) => ({ ...rule })),
  followOutsideSymlinks: STATIC_DEFAULTS.followOutsideSymlinks,
  staticCacheMaxBytes: STATIC_DEFAULTS.cacheMaxBytes,
  staticCacheMaxFileBytes: STATIC_DEFAULTS.cacheMaxFileBytes,
  staticStatTtlMs: STATIC_DEFAULTS.statTtlMs,
  proxyConnectTimeoutMs: PROXY_DEFAULTS.connectTimeoutMs,
  proxyResponseTimeoutMs: PROXY_DEFAULTS.responseTimeoutMs,
  proxyMaxSocketsPerUpstream: PROXY_DEFAULTS.maxSocketsPerUpstream,
  proxyKeepAliveIdleMs: PROXY_DEFAULTS.keepAliveIdleMs,
  proxyRetryIdempotentOnReset: PROXY_DEFAULTS.retryIdempotentOnReset,
  proxyBalance: PROXY_DEFAULTS.balance,
  proxyBodyIdleTimeoutMs: PROXY_DEFAULTS.bodyIdleTimeoutMs,
  proxyMaxQueue: PROXY_DEFAULTS.maxQueue,
  proxyQueueTimeoutMs: PROXY_DEFAULTS.queueTimeoutMs,
  proxyHealthIntervalMs: PROXY_DEFAULTS.activeHealth === false ? 0 : PROXY_DEFAULTS.activeHealth.intervalMs,
  proxyEngine: PROXY_DEFAULTS.engine,
  proxyMaxReplayBodyBytes: PROXY_DEFAULTS.maxReplayBodyBytes,
  proxyBufferBodyBytes: PROXY_DEFAULTS.bufferBodyBytes,
  proxyStreamBodyPrefixes: [...PROXY_DEFAULTS.streamBodyPrefixes],
  proxyBodyTempDir: PROXY_DEFAULTS.bodyTempDir,
  proxyBodyTempMaxBytes: PROXY_DEFAULTS.bodyTempMaxBytes,
  proxyRetryBudgetPercent: Math.round(PROXY_DEFAULTS.retryBudget.ratio * 100),
  proxyRetryBudgetMinPerWindow: PROXY_DEFAULTS.retryBudget.minPerWindow,
  proxyRetryBudgetWindowMs: PROXY_DEFAULTS.retryBudget.windowMs,
  proxyMaxFails: PROXY_DEFAULTS.passiveHealth.maxFails,
  proxyFailTimeoutMs: PROXY_DEFAULTS.passiveHealth.failTimeoutMs,
  proxyHealthTimeoutMs: ACTIVE_HEALTH_DEFAULTS.timeoutMs,
  proxyHealthPath: ACTIVE_HEALTH_DEFAULTS.path,
  operatorAllow: ['127.0.0.0/8', '::1/128'],
  operatorHosts: [],
  peerMaxConnections: PEER_LIMIT_DEFAULTS.maxConnectionsPerPeer,
  peerRatePerSec: PEER_LIMIT_DEFAULTS.ratePerSec,
  peerRateBurst: PEER_LIMIT_DEFAULTS.rateBurst,
  peerRateMaxEntries: PEER_LIMIT_DEFAULTS.maxRateEntries,
  workers: 1,
  cgi: false,
  cgiDir: 'web-tier/cgi-bin',
  cgiTimeoutMs: CGI_DEFAULTS.timeoutMs,
  cgiMaxProcesses: CGI_DEFAULTS.maxProcesses,
  databaseUrl: 'sqlite:./data/twotier.db',
  appMaxArticleBodyBytes: APP_DEFAULTS.maxArticleBodyBytes,
  appMaxRequestBodyBytes: APP_DEFAULTS.maxRequestBodyBytes,
};

const ENV: Readonly<Record<string, EnvBinding>> = {
  WEB_HOST: { key: 'host', kind: 'string' },
  WEB_PORT: { key: 'port', kind: 'int' },
  WEB_ROOT: { key: 'root', kind: 'string' },
  APP_UPSTREAMS: { key: 'upstreams', kind: 'list' },
  WEB_MAX_BODY: { key: 'maxBodyBytes', kind: 'int' },
  LOG_LEVEL: { key: 'logLevel', kind: 'string' },
  WEB_DYNAMIC: { key: 'dynamic', kind: 'string' },
  WEB_DYNAMIC_PREFIXES: { key: 'dynamicPrefixes', kind: 'list' },
  WEB_TRUSTED_PROXIES: { key: 'trustedProxies', kind: 'list' },
  WEB_SERVER_NAMES: { key: 'serverNames', kind: 'list' },
  WEB_MAX_URL_BYTES: { key: 'maxUrlBytes', kind: 'int' },
  WEB_MAX_HEADER_BYTES: { key: 'maxHeaderBytes', kind: 'int' },
  WEB_MAX_HEADER_FIELDS: { key: 'maxHeaderFields', kind: 'int' },
  WEB_LINGERING_TIME_MS: { key: 'lingeringTimeMs', kind: 'int' },
  WEB_LINGERING_TIMEOUT_MS: { key: 'lingeringTimeoutMs', kind: 'int' },
  WEB_LINGERING_MAX_BYTES: { key: 'lingeringMaxBytes', kind: 'int' },
  WEB_HEADERS_TIMEOUT_MS: { key: 'headersTimeoutMs', kind: 'int' },
  WEB_REQUEST_TIMEOUT_MS: { key: 'requestTimeoutMs', kind: 'int' },
  WEB_KEEP_ALIVE_TIMEOUT_MS: { key: 'keepAliveTimeoutMs', kind: 'int' },
  WEB_SHUTDOWN_TIMEOUT_MS: { key: 'shutdownTimeoutMs', kind: 'int' },
  WEB_LISTING_DIRS: { key: 'listingDirs', kind: 'list' },
  WEB_FOLLOW_OUTSIDE_SYMLINKS: { key: 'followOutsideSymlinks', kind: 'bool' },
  WEB_PROXY_CONNECT_TIMEOUT_MS: { key: 'proxyConnectTimeoutMs', kind: 'int' },
  WEB_PROXY_RESPONSE_TIMEOUT_MS: { key: 'proxyResponseTimeoutMs', kind: 'int' },
  WEB_PROXY_BALANCE: { key: 'proxyBalance', kind: 'string' },
  WEB_PROXY_BODY_IDLE_TIMEOUT_MS: { key: 'proxyBodyIdleTimeoutMs', kind: 'int' },
  WEB_PROXY_MAX_QUEUE: { key: 'proxyMaxQueue', kind: 'int' },
  WEB_PROXY_QUEUE_TIMEOUT_MS: { key: 'proxyQueueTimeoutMs', kind: 'int' },
  WEB_PROXY_HEALTH_INTERVAL_MS: { key: 'proxyHealthIntervalMs', kind: 'int' },
  WEB_PROXY_MAX_SOCKETS: { key: 'proxyMaxSocketsPerUpstream', kind: 'int' },
  WEB_PROXY_KEEP_ALIVE_IDLE_MS: { key: 'proxyKeepAliveIdleMs', kind: 'int' },
  WEB_PROXY_RETRY: { key: 'proxyRetryIdempotentOnReset', kind: 'bool' },
  WEB_PROXY_ENGINE: { key: 'proxyEngine', kind: 'string' },
  WEB_PROXY_MAX_REPLAY_BODY: { key: 'proxyMaxReplayBodyBytes', kind: 'int' },
  WEB_PROXY_BUFFER_BODY: { key: 'proxyBufferBodyBytes', kind: 'int' },
  WEB_PROXY_STREAM_BODY_PREFIXES: { key: 'proxyStreamBodyPrefixes', kind: 'list' },
  WEB_PROXY_BODY_TEMP_DIR: { key: 'proxyBodyTempDir', kind: 'string' },
  WEB_PROXY_BODY_TEMP_MAX_BYTES: { key: 'proxyBodyTempMaxBytes', kind: 'int' },
  WEB_PROXY_RETRY_BUDGET_PERCENT: { key: 'proxyRetryBudgetPercent', kind: 'int' },
  WEB_PROXY_RETRY_BUDGET_MIN: { key: 'proxyRetryBudgetMinPerWindow', kind: 'int' },
  WEB_PROXY_RETRY_BUDGET_WINDOW_MS: { key: 'proxyRetryBudgetWindowMs', kind: 'int' },
  WEB_PROXY_MAX_FAILS: { key: 'proxyMaxFails', kind: 'int' },
  WEB_PROXY_FAIL_TIMEOUT_MS: { key: 'proxyFailTimeoutMs', kind: 'int' },
  WEB_PROXY_HEALTH_TIMEOUT_MS: { key: 'proxyHealthTimeoutMs', kind: 'int' },
  WEB_PROXY_HEALTH_PATH: { key: 'proxyHealthPath', kind: 'string' },
  WEB_OPERATOR_ALLOW: { key: 'operatorAllow', kind: 'list' },
  WEB_OPERATOR_HOSTS: { key: 'operatorHosts', kind: 'list' },
  WEB_PEER_MAX_CONNECTIONS: { key: 'peerMaxConnections', kind: 'int' },
  WEB_PEER_RATE_PER_SEC: { key: 'peerRatePerSec', kind: 'int' },
  WEB_PEER_RATE_BURST: { key: 'peerRateBurst', kind: 'int' },
  WEB_PEER_RATE_MAX_ENTRIES: { key: 'peerRateMaxEntries', kind: 'int' },
  WEB_WORKERS: { key: 'workers', kind: 'int' },
  WEB_STATIC_INDEX: { key: 'staticIndex', kind: 'string' },
  WEB_STATIC_CACHE_MAX_BYTES: { key: 'staticCacheMaxBytes', kind: 'int' },
  WEB_STATIC_CACHE_MAX_FILE_BYTES: { key: 'staticCacheMaxFileBytes', kind: 'int' },
  WEB_STATIC_STAT_TTL_MS: { key: 'staticStatTtlMs', kind: 'int' },
  WEB_CGI: { key: 'cgi', kind: 'bool' },
  WEB_CGI_DIR: { key: 'cgiDir', kind: 'string' },
  WEB_CGI_TIMEOUT_MS: { key: 'cgiTimeoutMs', kind: 'int' },
  WEB_CGI_MAX_PROCESSES: { key: 'cgiMaxProcesses', kind: 'int' },
  DATABASE_URL: { key: 'databaseUrl', kind: 'string' },
  // The same variable as the app tier's: one APP_TOKEN protects writes in all three modes.
  APP_TOKEN: { key: 'appToken', kind: 'string' },
  // The app tier's variables too: the same bounds in all three modes.
  APP_MAX_ARTICLE_BODY_BYTES: { key: 'appMaxArticleBodyBytes', kind: 'int' },
  APP_MAX_REQUEST_BODY_BYTES: { key: 'appMaxRequestBodyBytes', kind: 'int' },
};

/** Whether /cgi-bin/ runs scripts: WEB_CGI=on, or WEB_DYNAMIC=cgi (which needs the gateway for the app). */
export function cgiEnabled(config: Pick<WebConfig, 'cgi' | 'dynamic'>): boolean {
  return config.cgi || config.dynamic === 'cgi';
}

/** Names of the environment variables `loadConfig` reads, for README and `--help`. */
export const ENV_VARS: readonly string[] = Object.keys(ENV);

/**
 * The directory holding twotier's package.json: from source (web-tier/config.ts) and from the
 * build (dist/web-tier/config.js) alike, so WEB_ROOT never depends on the working directory.
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 6; depth += 1) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  return resolve(dirname(fileURLToPath(import.meta.url)), '..');
}

/**
 * The app runs in this tier (embedded, or cgi-bin/app): a DATABASE_URL it cannot use stops start-up
 * with the app tier's own message (a postgres password redacted) instead of a 503 per request.
 */
function checkAppDatabaseUrl(databaseUrl: string, dynamic: WebConfig['dynamic']): void {
  let location: DatabaseLocation;
  try {
    location = parseDatabaseUrl(databaseUrl);
  } catch (error) {
    throw new ConfigError('DATABASE_URL', `DATABASE_URL: ${(error as Error).message}`, { cause: error });
  }
  if (location.kind === 'sqlite-memory' && dynamic === 'cgi') {
    throw new ConfigError('DATABASE_URL', 'DATABASE_URL: sqlite::memory: cannot serve WEB_DYNAMIC=cgi (every CGI process would open its own empty database); name a file or a postgres:// URL');
  }
}

/** Validates defaults ← file ← env; throws ConfigError naming the key. Paths come back absolute. */
export function loadConfig(file: string | undefined, env: Env): WebConfig {
  const fileValues = file === undefined ? undefined : readConfigFile(file);
  const config = buildConfig({ schema, defaults: DEFAULTS, envBindings: ENV, fileValues, fileName: file, env });
  const base = packageRoot();
  const absolute = (path: string): string => (isAbsolute(path) ? path : resolve(base, path));
  if (config.headersTimeoutMs > config.requestTimeoutMs) {
    throw new ConfigError('headersTimeoutMs', `headersTimeoutMs (${config.headersTimeoutMs}) must not exceed requestTimeoutMs (${config.requestTimeoutMs})`);
  }
  if (config.appMaxRequestBodyBytes < config.appMaxArticleBodyBytes) {
    // The app tier's own rule (app-tier/config.ts), so a setting it refuses is refused here too.
    const key = env['APP_MAX_REQUEST_BODY_BYTES'] === undefined ? 'appMaxRequestBodyBytes' : 'APP_MAX_REQUEST_BODY_BYTES';
    throw new ConfigError(key, `${key}: must be at least appMaxArticleBodyBytes (${config.appMaxArticleBodyBytes}), or no article of the largest size could be sent, got ${config.appMaxRequestBodyBytes}`);
  }
  if (config.dynamic === 'embedded' || cgiEnabled(config)) checkAppDatabaseUrl(config.databaseUrl, config.dynamic);
  return Object.freeze({ ...config, root: absolute(config.root), cgiDir: absolute(config.cgiDir), proxyBodyTempDir: config.proxyBodyTempDir === '' ? '' : absolute(config.proxyBodyTempDir) });
}
