/**
 * The web tier's configuration: DEFAULTS ← `--config FILE` (JSON, in sections) ← environment.
 * Each section's schema and defaults live beside the code that reads them (server-config.ts,
 * limits-config.ts, static/config.ts, proxy/config.ts, cgi/config.ts, operator/config.ts,
 * app-config.ts); this file composes them, maps the environment variables onto their paths and
 * resolves relative paths. Validated once here and deep-frozen: the handlers trust it.
 * `loadConfig` is pure apart from reading the named file; only `main.ts` passes `process.env`.
 * The same keys serve one box and many: only addresses (WEB_HOST, APP_UPSTREAMS) change.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { buildConfig, ConfigError, readConfigFile, type EnvBinding, type Env, type Frozen } from '../common/config.js';
import { APP_DEFAULTS, APP_FORMER_KEYS, appSchema, checkApp } from './app-config.js';
import { CGI_DEFAULTS, CGI_FORMER_KEYS, cgiEnabled, cgiSchema } from './cgi/config.js';
import { checkLimits, LIMITS_DEFAULTS, LIMITS_FORMER_KEYS, limitsSchema } from './limits-config.js';
import { OPERATOR_DEFAULTS, OPERATOR_FORMER_KEYS, operatorSchema } from './operator/config.js';
import { PROXY_DEFAULTS, PROXY_FORMER_KEYS, proxySchema } from './proxy/config.js';
import { readUpstreamCa } from './proxy/upstream-tls.js';
import { checkRoutesMode, ROUTES_DEFAULTS, routesSchema } from './proxy/routes.js';
import { checkSelfUpstreams } from './proxy/self-upstream.js';
import { SERVER_DEFAULTS, SERVER_FORMER_KEYS, serverSchema } from './server-config.js';
import { STATIC_DEFAULTS, STATIC_FORMER_KEYS, staticSchema } from './static/config.js';
import { checkTls, TLS_DEFAULTS, TLS_ENV, tlsSchema } from './tls/config.js';

export { cgiEnabled };

const schema = z.object({
  server: serverSchema,
  limits: limitsSchema,
  static: staticSchema,
  proxy: proxySchema,
  // Issue 18: prefix → its own upstream group (proxy/routes.ts); empty = everything to proxy.upstreams.
  routes: routesSchema,
  cgi: cgiSchema,
  operator: operatorSchema,
  app: appSchema,
  tls: tlsSchema,
});

export type WebConfig = Frozen<z.infer<typeof schema>>;
export type WebConfigSection = keyof WebConfig;

export const DEFAULTS: WebConfig = Object.freeze({
  server: SERVER_DEFAULTS,
  limits: LIMITS_DEFAULTS,
  static: STATIC_DEFAULTS,
  proxy: PROXY_DEFAULTS,
  routes: ROUTES_DEFAULTS,
  cgi: CGI_DEFAULTS,
  operator: OPERATOR_DEFAULTS,
  app: APP_DEFAULTS,
  tls: TLS_DEFAULTS,
});

/** The flat keys config files had before the sections → their path now: such a key fails with "moved to …". */
export const MOVED_KEYS: Readonly<Record<string, string>> = Object.freeze(Object.fromEntries(Object.entries({
  server: SERVER_FORMER_KEYS, limits: LIMITS_FORMER_KEYS, static: STATIC_FORMER_KEYS, proxy: PROXY_FORMER_KEYS,
  cgi: CGI_FORMER_KEYS, operator: OPERATOR_FORMER_KEYS, app: APP_FORMER_KEYS,
}).flatMap(([section, keys]) => Object.entries(keys).map(([former, path]) => [former, `${section}.${path}`]))));

const ENV: Readonly<Record<string, EnvBinding>> = {
  WEB_HOST: { key: 'server.host', kind: 'string' },
  WEB_PORT: { key: 'server.port', kind: 'int' },
  WEB_WORKERS: { key: 'server.workers', kind: 'int' },
  LOG_LEVEL: { key: 'server.logLevel', kind: 'string' },
  WEB_DYNAMIC: { key: 'server.dynamic', kind: 'string' },
  WEB_DYNAMIC_PREFIXES: { key: 'server.dynamicPrefixes', kind: 'list' },
  WEB_TRUSTED_PROXIES: { key: 'server.trustedProxies', kind: 'list' },
  WEB_SERVER_NAMES: { key: 'server.serverNames', kind: 'list' },
  WEB_KEEP_ALIVE_TIMEOUT_MS: { key: 'server.keepAliveTimeoutMs', kind: 'int' },
  WEB_SHUTDOWN_TIMEOUT_MS: { key: 'server.shutdownTimeoutMs', kind: 'int' },
  WEB_MAX_BODY: { key: 'limits.maxBodyBytes', kind: 'int' },
  WEB_MAX_URL_BYTES: { key: 'limits.maxUrlBytes', kind: 'int' },
  WEB_MAX_HEADER_BYTES: { key: 'limits.maxHeaderBytes', kind: 'int' },
  WEB_MAX_HEADER_FIELDS: { key: 'limits.maxHeaderFields', kind: 'int' },
  WEB_HEADERS_TIMEOUT_MS: { key: 'limits.headersTimeoutMs', kind: 'int' },
  WEB_REQUEST_TIMEOUT_MS: { key: 'limits.requestTimeoutMs', kind: 'int' },
  WEB_LINGERING_TIME_MS: { key: 'limits.lingeringTimeMs', kind: 'int' },
  WEB_LINGERING_TIMEOUT_MS: { key: 'limits.lingeringTimeoutMs', kind: 'int' },
  WEB_LINGERING_MAX_BYTES: { key: 'limits.lingeringMaxBytes', kind: 'int' },
  WEB_PEER_MAX_CONNECTIONS: { key: 'limits.peer.maxConnectionsPerPeer', kind: 'int' },
  WEB_PEER_RATE_PER_SEC: { key: 'limits.peer.ratePerSec', kind: 'int' },
  WEB_PEER_RATE_BURST: { key: 'limits.peer.rateBurst', kind: 'int' },
  WEB_PEER_RATE_MAX_ENTRIES: { key: 'limits.peer.maxRateEntries', kind: 'int' },
  WEB_WS_IDLE_TIMEOUT_MS: { key: 'limits.websocket.idleTimeoutMs', kind: 'int' },
  WEB_WS_MAX_CONNECTIONS: { key: 'limits.websocket.maxConnections', kind: 'int' },
  WEB_WS_MAX_PER_PEER: { key: 'limits.websocket.maxPerPeer', kind: 'int' },
  WEB_ROOT: { key: 'static.root', kind: 'string' },
  WEB_STATIC_INDEX: { key: 'static.index', kind: 'string' },
  WEB_LISTING_DIRS: { key: 'static.listingDirs', kind: 'list' },
  WEB_FOLLOW_OUTSIDE_SYMLINKS: { key: 'static.followOutsideSymlinks', kind: 'bool' },
  WEB_STATIC_CACHE_MAX_BYTES: { key: 'static.cacheMaxBytes', kind: 'int' },
  WEB_STATIC_CACHE_MAX_FILE_BYTES: { key: 'static.cacheMaxFileBytes', kind: 'int' },
  WEB_STATIC_STAT_TTL_MS: { key: 'static.statTtlMs', kind: 'int' },
  APP_UPSTREAMS: { key: 'proxy.upstreams', kind: 'list' },
  WEB_UPSTREAM_RESOLVE_MS: { key: 'proxy.upstreamResolveMs', kind: 'int' },
  // Issue 15: the CA file https:// upstreams are verified against (proxy/upstream-tls.ts).
  WEB_UPSTREAM_CA: { key: 'proxy.upstreamCaFile', kind: 'string' },
  // Several apps behind one web tier (issue 18): "/shop/=http://…,http://…;/blog/=http://…".
  WEB_ROUTES: { key: 'routes', kind: 'string' },
  WEB_PROXY_ENGINE: { key: 'proxy.engine', kind: 'string' },
  WEB_PROXY_BALANCE: { key: 'proxy.balance', kind: 'string' },
  WEB_PROXY_CONNECT_TIMEOUT_MS: { key: 'proxy.connectTimeoutMs', kind: 'int' },
  WEB_PROXY_RESPONSE_TIMEOUT_MS: { key: 'proxy.responseTimeoutMs', kind: 'int' },
  WEB_PROXY_BODY_IDLE_TIMEOUT_MS: { key: 'proxy.bodyIdleTimeoutMs', kind: 'int' },
  WEB_PROXY_MAX_SOCKETS: { key: 'proxy.maxSocketsPerUpstream', kind: 'int' },
  WEB_PROXY_MAX_QUEUE: { key: 'proxy.maxQueue', kind: 'int' },
  WEB_PROXY_QUEUE_TIMEOUT_MS: { key: 'proxy.queueTimeoutMs', kind: 'int' },
  WEB_PROXY_KEEP_ALIVE_IDLE_MS: { key: 'proxy.keepAliveIdleMs', kind: 'int' },
  WEB_PROXY_RETRY: { key: 'proxy.retryIdempotentOnReset', kind: 'bool' },
  WEB_PROXY_NEXT_UPSTREAM_TRIES: { key: 'proxy.nextUpstreamTries', kind: 'int' },
  WEB_PROXY_MAX_REPLAY_BODY: { key: 'proxy.maxReplayBodyBytes', kind: 'int' },
  WEB_PROXY_BUFFER_BODY: { key: 'proxy.bufferBodyBytes', kind: 'int' },
  WEB_PROXY_STREAM_BODY_PREFIXES: { key: 'proxy.streamBodyPrefixes', kind: 'list' },
  WEB_PROXY_BODY_TEMP_DIR: { key: 'proxy.bodyTempDir', kind: 'string' },
  WEB_PROXY_BODY_TEMP_MAX_BYTES: { key: 'proxy.bodyTempMaxBytes', kind: 'int' },
  WEB_PROXY_RETRY_BUDGET_PERCENT: { key: 'proxy.retryBudget.percent', kind: 'int' },
  WEB_PROXY_RETRY_BUDGET_MIN: { key: 'proxy.retryBudget.minPerWindow', kind: 'int' },
  WEB_PROXY_RETRY_BUDGET_WINDOW_MS: { key: 'proxy.retryBudget.windowMs', kind: 'int' },
  WEB_PROXY_MAX_FAILS: { key: 'proxy.passiveHealth.maxFails', kind: 'int' },
  WEB_PROXY_FAIL_TIMEOUT_MS: { key: 'proxy.passiveHealth.failTimeoutMs', kind: 'int' },
  WEB_PROXY_HEALTH_INTERVAL_MS: { key: 'proxy.activeHealth.intervalMs', kind: 'int' },
  WEB_PROXY_HEALTH_TIMEOUT_MS: { key: 'proxy.activeHealth.timeoutMs', kind: 'int' },
  WEB_PROXY_HEALTH_PATH: { key: 'proxy.activeHealth.path', kind: 'string' },
  WEB_CGI: { key: 'cgi.enabled', kind: 'bool' },
  WEB_CGI_DIR: { key: 'cgi.dir', kind: 'string' },
  WEB_CGI_TIMEOUT_MS: { key: 'cgi.timeoutMs', kind: 'int' },
  WEB_CGI_MAX_PROCESSES: { key: 'cgi.maxProcesses', kind: 'int' },
  WEB_OPERATOR_ALLOW: { key: 'operator.allow', kind: 'list' },
  WEB_OPERATOR_HOSTS: { key: 'operator.hosts', kind: 'list' },
  DATABASE_URL: { key: 'app.databaseUrl', kind: 'string' },
  // The same variable as the app tier's: one APP_TOKEN protects writes in all three modes.
  APP_TOKEN: { key: 'app.token', kind: 'string' },
  // The app tier's variables too: the same bounds in all three modes.
  APP_MAX_ARTICLE_BODY_BYTES: { key: 'app.maxArticleBodyBytes', kind: 'int' },
  APP_MAX_REQUEST_BODY_BYTES: { key: 'app.maxRequestBodyBytes', kind: 'int' },
  // The application itself (issue 18): the same module in all three modes.
  APP_MODULE: { key: 'app.module', kind: 'string' },
  APP_MODULE_TIMEOUT_MS: { key: 'app.moduleTimeoutMs', kind: 'int' },
  // HTTPS at the edge (issue 15): tls/config.ts.
  ...TLS_ENV,
};

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

/** Validates defaults ← file ← env; throws ConfigError naming the key. Paths come back absolute. */
export function loadConfig(file: string | undefined, env: Env): WebConfig {
  const fileValues = file === undefined ? undefined : readConfigFile(file);
  const config: WebConfig = buildConfig({ schema, defaults: DEFAULTS, envBindings: ENV, fileValues, fileName: file, movedKeys: MOVED_KEYS, env });
  const problem = checkLimits(config.limits) ?? checkTls(config.tls, config.server) ?? checkRoutesMode(config.routes, config.server.dynamic) ?? checkApp(config.app, {
    requestBodyKey: env['APP_MAX_REQUEST_BODY_BYTES'] === undefined ? 'appMaxRequestBodyBytes' : 'APP_MAX_REQUEST_BODY_BYTES',
    appRunsHere: config.server.dynamic === 'embedded' || cgiEnabled(config),
    cgiApp: config.server.dynamic === 'cgi',
  }) ?? checkSelfUpstreams(config, {
    // Named as the operator gave them: the variable, else the config file's key.
    upstreams: env['APP_UPSTREAMS'] !== undefined || file === undefined ? 'APP_UPSTREAMS' : 'proxy.upstreams',
    routes: env['WEB_ROUTES'] !== undefined || file === undefined ? 'WEB_ROUTES' : 'routes',
  });
  if (problem !== undefined) throw new ConfigError(problem.key, problem.message, { cause: 'cause' in problem ? problem.cause : undefined });
  const base = packageRoot();
  const absolute = (path: string): string => (path === '' || isAbsolute(path) ? path : resolve(base, path));
  // Read now, so a missing or empty CA file is one line at start and a rejected reload (ConfigError naming WEB_UPSTREAM_CA).
  readUpstreamCa(absolute(config.proxy.upstreamCaFile));
  return Object.freeze({
    ...config,
    static: Object.freeze({ ...config.static, root: absolute(config.static.root) }),
    cgi: Object.freeze({ ...config.cgi, dir: absolute(config.cgi.dir) }),
    proxy: Object.freeze({ ...config.proxy, bodyTempDir: absolute(config.proxy.bodyTempDir), upstreamCaFile: absolute(config.proxy.upstreamCaFile) }),
    tls: Object.freeze({ ...config.tls, dir: absolute(config.tls.dir), certFiles: Object.freeze(config.tls.certFiles.map(absolute)), keyFiles: Object.freeze(config.tls.keyFiles.map(absolute)) }),
  });
}
