/**
 * The proxy's settings: one zod schema, its defaults, and the types the proxy's factories take.
 * Validated once by web-tier/config.ts (the `proxy` section of a config file, or the
 * WEB_PROXY_* / APP_UPSTREAMS variables) and frozen; the proxy trusts what it is given.
 */
import { z } from 'zod';
import { fields, type Frozen } from '../../common/config.js';
import type { LimitsConfig } from '../limits-config.js';
import type { ServerConfig } from '../server-config.js';

const MiB = 1024 * 1024;

/** An upstream's base URL (APP_UPSTREAMS, and each WEB_ROUTES group: routes.ts). */
export function httpBaseUrl(): z.ZodType<string> {
  return z.string({ error: 'must be an http:// or https:// base URL such as http://127.0.0.1:3000' }).refine((value) => {
    if (!URL.canParse(value)) return false;
    const url = new URL(value);
    // `#weight=N` weighs one upstream for the proxy's balancer; any other fragment is a typo.
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '' && url.search === '' && url.username === '' && /^(?:#weight=[1-9]\d{0,2})?$/.test(url.hash);
  }, 'must be an http:// or https:// base URL such as http://127.0.0.1:3000, optionally with #weight=N (no query or credentials)');
}

/**
 * One scheme per upstream group: a group that mixed them would let a request meant to cross the
 * network encrypted go out in clear on whichever member the balancer picked (issue 15: "never a
 * silent fallback"). The issue asks for no mixed groups, so none are accepted.
 */
function sameScheme(urls: readonly string[]): boolean {
  return new Set(urls.map((url) => (url.startsWith('https:') ? 'https' : 'http'))).size <= 1;
}

const ms = (what = 'a number of milliseconds (1 or more)') => fields.positiveInt(what);

export const proxySchema = z.object({
  /** Base URLs of the app tier (APP_UPSTREAMS). Empty is allowed (embedded/cgi mode: no app tier). */
  upstreams: z.array(httpBaseUrl(), { error: 'must be a list of http:// or https:// base URLs' })
    .refine(sameScheme, 'must be all http:// or all https:// (a group mixing them could send a request in clear)'),
  /**
   * PEM file of the CA(s) that https:// upstreams' certificates must chain to (WEB_UPSTREAM_CA);
   * '' = node's default trust store (its bundled Mozilla roots, plus NODE_EXTRA_CA_CERTS, or
   * OpenSSL's system store under --use-openssl-ca). Read at start and on each reload (upstream-tls.ts).
   */
  upstreamCaFile: z.string({ error: 'must be a PEM file path, or empty for the default trust store' }),
  /** plain (node's http.request) or http-proxy, with the same passes (issue 8 comparison). */
  engine: z.enum(['http-proxy', 'plain'], { error: 'must be http-proxy or plain' }),
  /** An upstream given as a host name is re-resolved this often (discovery.ts, WEB_UPSTREAM_RESOLVE_MS); 0 = once at start. */
  upstreamResolveMs: fields.nonNegativeInt('a number of milliseconds (0 = resolve once)'),
  /** round-robin (smooth, weighted) or least-conn (fewest in flight per unit of weight). */
  balance: z.enum(['round-robin', 'least-conn'], { error: 'must be round-robin or least-conn' }),
  /** From socket assignment until the TCP connection is up → 504. */
  connectTimeoutMs: ms(),
  /** From the request fully sent until the upstream's response head → 504. */
  responseTimeoutMs: ms(),
  /** Between two chunks of an upstream's response body → the response is cut (its status is already out). */
  bodyIdleTimeoutMs: ms(),
  /** Requests in flight per upstream (and its keep-alive sockets); more wait in the queue. */
  maxSocketsPerUpstream: fields.positiveInt('a positive integer'),
  /** Requests waiting for an upstream slot at most (beyond → 503 + Retry-After); 0 = no waiting. */
  maxQueue: fields.nonNegativeInt('a count (0 or more)'),
  /** How long a request may wait for a slot → 503 + Retry-After. */
  queueTimeoutMs: ms(),
  /** Idle pooled connections are closed after this; must stay below the app tier's keepAliveTimeout (nodejs/node#20256). */
  keepAliveIdleMs: ms(),
  /** Retries at all (refused, reset on a reused socket, draining 503); the name is kept from issue 3. */
  retryIdempotentOnReset: z.boolean({ error: 'must be true or false' }),
  /**
   * Attempts per request in all, each on an upstream not tried yet for it (nginx
   * proxy_next_upstream_tries; HAProxy `retries`). 3: scaling three replicas down to one leaves
   * a request two dead ones to pass before the live one (CI at 975b86d: 1 GET of a scale-down failed
   * when only one retry was allowed).
   */
  nextUpstreamTries: fields.positiveInt('a count of attempts (1 or more; 1 = never retry)'),
  /** Streamed request bodies up to this are kept while they pass so a retry can resend them; larger → never retried. */
  maxReplayBodyBytes: fields.nonNegativeInt('a byte count (0 or more)'),
  /**
   * Request buffering (nginx proxy_request_buffering on): every body up to the body limit is read
   * whole before it takes an upstream slot (slow uploads, issue 12); up to this many bytes in
   * memory (nginx client_body_buffer_size), a larger body in a temp file. 0 = off: every body streams.
   */
  bufferBodyBytes: fields.nonNegativeInt('a byte count (0 or more)'),
  /** Path prefixes whose request bodies stream to the app as they arrive (large uploads); they hold a slot meanwhile. */
  streamBodyPrefixes: z.array(fields.pathPrefix('a path prefix like "/api/uploads/" (starts and ends with "/")'), { error: 'must be a list of path prefixes like "/api/uploads/"' }),
  /** Where bodies past bufferBodyBytes are spilled (a private 0700 directory is made inside); '' = the system temp dir; relative → against the package root. */
  bodyTempDir: z.string({ error: 'must be a directory path, or empty for the system temp dir' }),
  /** Bytes all spilled request bodies may take on disk at once; beyond → 503 + Retry-After. 0 = no bound but the body limit per request. */
  bodyTempMaxBytes: fields.nonNegativeInt('a byte count (0 = no bound)'),
  /** A retry budget (Finagle's RetryBudget, Envoy's retry_budget), in percent end to end. */
  retryBudget: z.object({
    /** Retries allowed as a percentage of the requests seen over the window. */
    percent: fields.nonNegativeInt('a percentage (0 or more)'),
    /** Retries always allowed per window, whatever the traffic. */
    minPerWindow: fields.nonNegativeInt('a count (0 or more)'),
    /** The sliding window (counted in ten buckets). */
    windowMs: ms(),
  }).strict(),
  /** Passive health (nginx max_fails / fail_timeout). */
  passiveHealth: z.object({
    /** Consecutive failures (refused, reset, timeout), all within failTimeoutMs, that take an upstream out. */
    maxFails: fields.positiveInt('a count (1 or more)'),
    /** The failure window, and how long the upstream then stays out. */
    failTimeoutMs: ms(),
  }).strict(),
  /** Active `GET /readyz` checks of each upstream, on connections of their own. */
  activeHealth: z.object({
    /** Time between two checks of one upstream; 0 = passive health only. */
    intervalMs: fields.nonNegativeInt('a number of milliseconds (0 = off)'),
    /** A check not answered within this counts as down. */
    timeoutMs: ms(),
    /** The readiness path under each upstream's base URL. */
    path: z.string({ error: 'must be a path such as /readyz' }).regex(/^\/[^\s?#]*$/, 'must be a path such as /readyz'),
  }).strict(),
}).strict();

/** The `proxy` section as validated: what createProxyHandler and its parts take. */
export type ProxyConfig = Frozen<z.infer<typeof proxySchema>>;
export type ProxyEngine = ProxyConfig['engine'];
export type BalanceMethod = ProxyConfig['balance'];
export type RetryBudgetConfig = ProxyConfig['retryBudget'];
export type PassiveHealthConfig = ProxyConfig['passiveHealth'];
export type ActiveHealthConfig = ProxyConfig['activeHealth'];
/** What forwarding reads on every exchange (forward.ts, interceptors/): its three timeouts, and whether it may retry. */
export type ForwardConfig = Pick<ProxyConfig, 'connectTimeoutMs' | 'responseTimeoutMs' | 'bodyIdleTimeoutMs' | 'retryIdempotentOnReset' | 'nextUpstreamTries'>;
/** The admission queue's two settings (admission.ts). */
export type QueueConfig = Pick<ProxyConfig, 'maxQueue' | 'queueTimeoutMs'>;
/** What createProxyHandler takes: its section, plus the body limit (limits section) and the trusted peers (server section) it enforces too. */
export type ProxyHandlerConfig = ProxyConfig & Pick<LimitsConfig, 'maxBodyBytes'> & Pick<ServerConfig, 'trustedProxies'>;

export const PROXY_DEFAULTS: ProxyConfig = Object.freeze({
  upstreams: Object.freeze(['http://127.0.0.1:3000']),
  upstreamCaFile: '',
  upstreamResolveMs: 5_000,
  engine: 'plain',
  balance: 'round-robin',
  connectTimeoutMs: 5_000,
  responseTimeoutMs: 30_000,
  bodyIdleTimeoutMs: 30_000,
  maxSocketsPerUpstream: 64,
  maxQueue: 1024,
  queueTimeoutMs: 5_000,
  keepAliveIdleMs: 30_000,
  retryIdempotentOnReset: true,
  nextUpstreamTries: 3,
  maxReplayBodyBytes: 64 * 1024,
  bufferBodyBytes: 64 * 1024,
  streamBodyPrefixes: Object.freeze([]),
  bodyTempDir: '',
  bodyTempMaxBytes: 1024 * MiB,
  retryBudget: Object.freeze({ percent: 20, minPerWindow: 10, windowMs: 10_000 }),
  passiveHealth: Object.freeze({ maxFails: 3, failTimeoutMs: 10_000 }),
  activeHealth: Object.freeze({ intervalMs: 5_000, timeoutMs: 2_000, path: '/readyz' }),
});

/** The flat config-file keys used before the sections (issue 14) → their place in this one, for "moved to …". */
export const PROXY_FORMER_KEYS: Readonly<Record<string, string>> = {
  upstreams: 'upstreams', upstreamResolveMs: 'upstreamResolveMs', proxyEngine: 'engine', proxyBalance: 'balance', proxyConnectTimeoutMs: 'connectTimeoutMs',
  proxyResponseTimeoutMs: 'responseTimeoutMs', proxyBodyIdleTimeoutMs: 'bodyIdleTimeoutMs', proxyMaxSocketsPerUpstream: 'maxSocketsPerUpstream',
  proxyMaxQueue: 'maxQueue', proxyQueueTimeoutMs: 'queueTimeoutMs', proxyKeepAliveIdleMs: 'keepAliveIdleMs',
  proxyRetryIdempotentOnReset: 'retryIdempotentOnReset', proxyMaxReplayBodyBytes: 'maxReplayBodyBytes', proxyBufferBodyBytes: 'bufferBodyBytes',
  proxyStreamBodyPrefixes: 'streamBodyPrefixes', proxyBodyTempDir: 'bodyTempDir', proxyBodyTempMaxBytes: 'bodyTempMaxBytes',
  proxyRetryBudgetPercent: 'retryBudget.percent', proxyRetryBudgetMinPerWindow: 'retryBudget.minPerWindow', proxyRetryBudgetWindowMs: 'retryBudget.windowMs',
  proxyMaxFails: 'passiveHealth.maxFails', proxyFailTimeoutMs: 'passiveHealth.failTimeoutMs',
  proxyHealthIntervalMs: 'activeHealth.intervalMs', proxyHealthTimeoutMs: 'activeHealth.timeoutMs', proxyHealthPath: 'activeHealth.path',
};
