/**
 * The server's own settings: where it listens, how many processes, which hosts and prefixes it
 * serves and how the dynamic ones are served, whom it believes, how long it waits. Validated
 * once by web-tier/config.ts.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { fields, type Frozen } from '../common/config.js';

export const serverSchema = z.object({
  host: fields.host(),
  port: fields.port(),
  /** Web server processes (nginx worker_processes); 1 = no cluster. */
  workers: fields.positiveInt('a number of processes (1 or more)').max(64, 'must be a number of processes (1 to 64)'),
  logLevel: fields.logLevel(),
  /** How the dynamic prefixes are served: forwarded to the app tier, the app in-process, or the app per request as CGI. */
  dynamic: z.enum(['proxy', 'embedded', 'cgi'], { error: 'must be one of proxy, embedded, cgi' }),
  dynamicPrefixes: z.array(fields.pathPrefix('a path prefix like "/api/" (starts and ends with "/")'), { error: 'must be a list of path prefixes like "/api/"' }),
  /** Host names this server answers for; another Host → 421 (RFC 9110 §15.5.20). [] = any valid Host. */
  serverNames: z.array(z.string().regex(/^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:.]+\]$/, 'must be a host name or IP address without port'), { error: 'must be a list of host names' }),
  /** Peers whose X-Forwarded-* and X-Request-Id are believed (exact IP addresses). */
  trustedProxies: z.array(z.string().refine((value) => isIP(value) !== 0, 'must be an IP address'), { error: 'must be a list of IP addresses' }),
  keepAliveTimeoutMs: fields.positiveInt('a number of milliseconds (1 or more)'),
  /** Graceful close: in-flight requests get this long before their sockets are cut. */
  shutdownTimeoutMs: fields.nonNegativeInt('a number of milliseconds (0 or more)'),
}).strict();

export type ServerConfig = Frozen<z.infer<typeof serverSchema>>;
export type DynamicMode = ServerConfig['dynamic'];

export const SERVER_DEFAULTS: ServerConfig = Object.freeze({
  host: '127.0.0.1',
  port: 8080,
  workers: 1,
  logLevel: 'info',
  dynamic: 'proxy',
  dynamicPrefixes: Object.freeze(['/api/', '/articles/', '/status-codes/']),
  serverNames: Object.freeze([]),
  trustedProxies: Object.freeze([]),
  keepAliveTimeoutMs: 5_000,
  shutdownTimeoutMs: 10_000,
});

/** The flat config-file keys used before the sections (issue 14) → their place in this one. */
export const SERVER_FORMER_KEYS: Readonly<Record<string, string>> = {
  host: 'host', port: 'port', workers: 'workers', logLevel: 'logLevel', dynamic: 'dynamic', dynamicPrefixes: 'dynamicPrefixes',
  serverNames: 'serverNames', trustedProxies: 'trustedProxies', keepAliveTimeoutMs: 'keepAliveTimeoutMs', shutdownTimeoutMs: 'shutdownTimeoutMs',
};
