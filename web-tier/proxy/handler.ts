/**
 * The web tier's handler for dynamic paths: forwards them to the app tier through http-proxy,
 * with every failure mode that http-proxy's issue tracker knows about neutralised. The request
 * meets these passes in order: body declared too large → 413; no healthy upstream → 503;
 * rewrite the header section at the edge; count the body while it arrives; read it whole, in
 * memory then a temp file (request-buffering.ts), unless its path streams; wait for an upstream slot
 * (queue full or too long → 503); forward; retry when safe, from the buffered copy.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../common/logger.js';
import { bodyTooLargeError, createBodyLimit, declaredBodyTooLarge, DEFAULT_MAX_BODY_BYTES, requestHasBody } from '../body-limit.js';
import type { RequestContext, RequestHandler } from '../context.js';
import { sendError } from '../error-response.js';
import { createAdmission, QUEUE_DEFAULTS } from './admission.js';
import { createUpstreamAgent } from './agent.js';
import { BufferedBody, buffersBody, DEFAULT_BODY_TEMP_MAX_BYTES, DEFAULT_BUFFER_BODY_BYTES } from './body-buffer.js';
import { DEFAULT_MAX_REPLAY_BODY_BYTES, ReplayRecorder } from './body-replay.js';
import { compose, type Interceptor } from './dispatch.js';
import type { EngineName, ProxyEngine } from './engines/engine.js';
import { createHttpProxyEngine } from './engines/http-proxy.js';
import { createPlainEngine } from './engines/plain.js';
import { toUpstreamError, upstreamUnavailable } from './errors.js';
import type { Exchange, Forwarder } from './exchange.js';
import { admit, admitFirst, onBodyLimit, onClientClose } from './forward.js';
import { edgeFactsOf, normalizeAddress } from './headers.js';
import { passiveHealth } from './interceptors/passive-health.js';
import { retry } from './interceptors/retry.js';
import { timeouts } from './interceptors/timeouts.js';
import { startDiscovery } from './discovery.js';
import { ACTIVE_HEALTH_DEFAULTS, createHealthChecker, type ActiveHealthOptions } from './health-check.js';
import { createUpstreamPool, PASSIVE_HEALTH_DEFAULTS, type BalanceMethod, type PassiveHealthOptions, type UpstreamEntry, type UpstreamState } from './pool.js';
import { bufferThenAdmit, onBufferError } from './request-buffering.js';
import { createRetryBudget, RETRY_BUDGET_DEFAULTS, type RetryBudgetOptions } from './retry-budget.js';
import { createSpillDir } from './spill-file.js';

export interface ProxyOptions {
  /** plain (default: node's http.request) or http-proxy, with the same behaviour (web-tier/proxy/README.md has the figures). */
  engine?: EngineName;
  /** Base URLs, e.g. ['http://127.0.0.1:3000'] (APP_UPSTREAMS); `http://h:p#weight=2` or `{ url, weight }` weighs one. */
  upstreams: readonly UpstreamEntry[];
  /** round-robin (smooth, weighted) or least-conn (fewest in flight per unit of weight). */
  balance?: BalanceMethod;
  /** From socket assignment until the TCP connection is up → 504. */
  connectTimeoutMs: number;
  /** From the request fully sent until the upstream's response head → 504. */
  responseTimeoutMs: number;
  /** Between two chunks of the upstream's response body → the response is cut (its status is already out). */
  bodyIdleTimeoutMs?: number;
  /** Requests in flight per upstream (and its keep-alive sockets); more wait in the queue. */
  maxSocketsPerUpstream: number;
  /** Requests that may wait for a slot; beyond it → 503 + Retry-After. */
  maxQueue?: number;
  /** How long a request may wait for a slot → 503 + Retry-After. */
  queueTimeoutMs?: number;
  /** Idle pooled connections are closed after this; keep it below the app's keepAliveTimeout (65 s). */
  keepAliveIdleMs: number;
  /** WEB_MAX_BODY. */
  maxBodyBytes: number;
  /** Peer addresses whose X-Forwarded-For is kept (and appended to). */
  trustedProxies: readonly string[];
  /** Retries at all (refused, reset on a reused socket, draining 503); the name is kept from issue 3. */
  retryIdempotentOnReset: boolean;
  /** Streamed bodies up to this size are copied as they pass, so that a retry can resend them; larger → never retried. */
  maxReplayBodyBytes?: number;
  /**
   * Request buffering: every body (up to maxBodyBytes) is read whole before the request waits for
   * an upstream slot, so a slow client never holds one; up to this many bytes in memory, a larger
   * body in a temp file. 0 = off: every body streams.
   */
  bufferBodyBytes?: number;
  /** Path prefixes whose bodies stream to the app as they arrive (large uploads), holding a slot meanwhile. */
  streamBodyPrefixes?: readonly string[];
  /** Where bodies past bufferBodyBytes are spilled (a private directory is made inside); '' = os.tmpdir(). */
  bodyTempDir?: string;
  /** Bytes all spilled bodies may take on disk at once; beyond → 503 + Retry-After. 0 = no bound but the body limit per request. */
  bodyTempMaxBytes?: number;
  retryBudget?: RetryBudgetOptions;
  /** Passive health (nginx max_fails / fail_timeout). */
  passiveHealth?: PassiveHealthOptions;
  /** Active `GET /readyz` checks, or false for none. */
  activeHealth?: ActiveHealthOptions | false;
  /** An upstream given as a host name is re-resolved this often, ms (discovery.ts, WEB_UPSTREAM_RESOLVE_MS); 0 = once at start. */
  upstreamResolveMs?: number;
}

/** Every option but the upstream list; the optional ones (added by issue 6) default to these. */
export type ProxySettings = Required<Omit<ProxyOptions, 'upstreams'>>;

export const PROXY_DEFAULTS: ProxySettings = Object.freeze({
  engine: 'plain',
  balance: 'round-robin',
  connectTimeoutMs: 5_000,
  responseTimeoutMs: 30_000,
  bodyIdleTimeoutMs: 30_000,
  maxSocketsPerUpstream: 64,
  maxQueue: QUEUE_DEFAULTS.maxQueue,
  queueTimeoutMs: QUEUE_DEFAULTS.queueTimeoutMs,
  keepAliveIdleMs: 30_000,
  maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
  trustedProxies: Object.freeze([]) as readonly string[],
  retryIdempotentOnReset: true,
  maxReplayBodyBytes: DEFAULT_MAX_REPLAY_BODY_BYTES,
  bufferBodyBytes: DEFAULT_BUFFER_BODY_BYTES,
  streamBodyPrefixes: Object.freeze([]) as readonly string[],
  bodyTempDir: '',
  bodyTempMaxBytes: DEFAULT_BODY_TEMP_MAX_BYTES,
  retryBudget: RETRY_BUDGET_DEFAULTS,
  passiveHealth: PASSIVE_HEALTH_DEFAULTS,
  upstreamResolveMs: 5_000,
  activeHealth: ACTIVE_HEALTH_DEFAULTS,
});

/** Totals for the metrics engineer. */
export interface ProxyStats {
  /** Requests the proxy took (each counted once, whatever its retries). */
  requests: number;
  retries: number;
  /** Retries that were safe but refused by the budget. */
  retryBudgetExhausted: number;
  /** Requests that waited for a slot too long (503). */
  queueTimeouts: number;
  /** Requests turned away because the queue was full (503). */
  queueFull: number;
  /** Failures counted against each upstream (passive health), by URL. */
  failuresByUpstream: Record<string, number>;
}

export interface ProxyHandler extends RequestHandler {
  hasHealthyUpstream(): boolean;
  upstreamStates(): readonly UpstreamState[];
  stats(): ProxyStats;
  /** Runs the active checks now (tests, and an operator's "check now"); resolves when all answered. */
  checkUpstreams(): Promise<void>;
}

/**
 * The request-target as received, byte for byte, query included. When classify.ts normalised the
 * path (or the target was absolute-form, RFC 9112 §3.2.2), its origin-form is what goes upstream.
 */
export function upstreamTarget(rawTarget: string | undefined, ctx: Pick<RequestContext, 'pathname' | 'search'>): string {
  const raw = rawTarget ?? '';
  const queryAt = raw.indexOf('?');
  const rawPath = queryAt === -1 ? raw : raw.slice(0, queryAt);
  if (raw.startsWith('/') && rawPath === ctx.pathname) return raw;
  return ctx.pathname + ctx.search;
}

/** Refuses nonsense at construction, naming the option: a zero timeout would answer 504 to everything. */
function checkOptions(options: ProxySettings): void {
  const positive = ['connectTimeoutMs', 'responseTimeoutMs', 'bodyIdleTimeoutMs', 'maxSocketsPerUpstream', 'queueTimeoutMs', 'keepAliveIdleMs'] as const;
  for (const key of positive) {
    if (!Number.isSafeInteger(options[key]) || options[key] < 1) throw new RangeError(`proxy option ${key} must be a positive integer, got ${options[key]}`);
  }
  for (const key of ['maxBodyBytes', 'maxQueue', 'maxReplayBodyBytes', 'bufferBodyBytes', 'bodyTempMaxBytes', 'upstreamResolveMs'] as const) {
    if (!Number.isSafeInteger(options[key]) || options[key] < 0) throw new RangeError(`proxy option ${key} must be a non-negative integer, got ${options[key]}`);
  }
  if (!options.streamBodyPrefixes.every((prefix) => typeof prefix === 'string' && prefix.startsWith('/'))) throw new RangeError('proxy option streamBodyPrefixes must be path prefixes starting with "/"');
  if (options.engine !== 'http-proxy' && options.engine !== 'plain') throw new RangeError(`proxy option engine must be http-proxy or plain, got ${String(options.engine)}`);
  if (options.balance !== 'round-robin' && options.balance !== 'least-conn') throw new RangeError(`proxy option balance must be round-robin or least-conn, got ${String(options.balance)}`);
  const { maxFails, failTimeoutMs } = options.passiveHealth;
  if (!Number.isSafeInteger(maxFails) || maxFails < 1 || !Number.isSafeInteger(failTimeoutMs) || failTimeoutMs < 1) throw new RangeError('proxy option passiveHealth needs positive integers maxFails and failTimeoutMs');
  const { ratio, minPerWindow, windowMs } = options.retryBudget;
  if (!(ratio >= 0) || !(minPerWindow >= 0) || !Number.isSafeInteger(windowMs) || windowMs < 1) throw new RangeError('proxy option retryBudget needs ratio >= 0, minPerWindow >= 0 and a positive integer windowMs');
  if (options.activeHealth !== false) {
    const { intervalMs, timeoutMs, path } = options.activeHealth;
    if (!Number.isSafeInteger(intervalMs) || intervalMs < 1 || !Number.isSafeInteger(timeoutMs) || timeoutMs < 1 || !path.startsWith('/')) {
      throw new RangeError('proxy option activeHealth needs positive integers intervalMs and timeoutMs and a path starting with "/"');
    }
  }
}

export function createProxyHandler(options: ProxyOptions & { logger: Logger }): ProxyHandler {
  const { logger, upstreams, ...given } = options;
  const settings: ProxySettings = { ...PROXY_DEFAULTS, ...given };
  checkOptions(settings);
  const pool = createUpstreamPool(upstreams, { balance: settings.balance, maxActivePerUpstream: settings.maxSocketsPerUpstream, passiveHealth: settings.passiveHealth });
  const admission = createAdmission(pool, { maxQueue: settings.maxQueue, queueTimeoutMs: settings.queueTimeoutMs });
  const agent = createUpstreamAgent({ maxSockets: settings.maxSocketsPerUpstream, keepAliveIdleMs: settings.keepAliveIdleMs });
  const checker = settings.activeHealth === false || upstreams.length === 0 ? undefined : createHealthChecker(pool, settings.activeHealth, logger);
  const discovery = startDiscovery(upstreams, pool, { resolveMs: settings.upstreamResolveMs, checkNew: checker !== undefined, logger });
  const trusted = new Set(settings.trustedProxies.map((address) => normalizeAddress(address)));
  const spillDir = createSpillDir({ parent: settings.bodyTempDir, maxTotalBytes: settings.bodyTempMaxBytes });
  const engine: ProxyEngine = settings.engine === 'plain' ? createPlainEngine(agent, trusted) : createHttpProxyEngine(agent, trusted, logger);
  const budget = createRetryBudget(settings.retryBudget);
  const counters = { retries: 0, retryBudgetExhausted: 0, queueTimeouts: 0, queueFull: 0 };
  // Outermost first: a failure is timed out, then counted against its upstream, then maybe retried.
  const interceptors: Interceptor[] = [passiveHealth(pool), timeouts(settings)];
  if (settings.retryIdempotentOnReset) interceptors.unshift(retry({ budget, counters, admit: (exchange, attempt, avoid, retryOf) => admit(forwarder, exchange, attempt, avoid, retryOf) }));
  const forwarder: Forwarder = { engine, pool, admission, budget, counters, settings, send: compose(interceptors) };
  let requests = 0;
  let closed = false;

  function handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void {
    ctx.servedBy = 'app';
    if (closed) {
      sendError(res, ctx, upstreamUnavailable(1));
      return;
    }
    if (declaredBodyTooLarge(req.headers, settings.maxBodyBytes)) {
      // Before reading a byte of it (nginx answers the same way, also under Expect: 100-continue).
      ctx.logger.info({ limit: settings.maxBodyBytes }, 'declared request body too large');
      sendError(res, ctx, bodyTooLargeError(settings.maxBodyBytes), { close: true });
      return;
    }
    if (!pool.hasHealthy()) {
      ctx.logger.warn({ upstreams: pool.states() }, 'no healthy upstream');
      sendError(res, ctx, upstreamUnavailable(pool.retryAfterSeconds()), { close: !req.complete });
      return;
    }
    requests += 1;
    forwarder.budget.recordRequest();

    const hasBody = requestHasBody(req.headers);
    // The edge's header section, in the engine's form (its framing the web tier's: framing.ts).
    const outgoing = engine.open(req, res, upstreamTarget(req.url, ctx), edgeFactsOf(req, ctx.requestId));

    const limited = hasBody ? req.pipe(createBodyLimit(settings.maxBodyBytes)) : undefined;
    const buffered = limited !== undefined && buffersBody(ctx.pathname, settings.bufferBodyBytes, settings.streamBodyPrefixes)
      ? new BufferedBody({ memoryBytes: settings.bufferBodyBytes, maxBytes: settings.maxBodyBytes, dir: spillDir, maxReplayBytes: settings.maxReplayBodyBytes, onReadError: (error) => onBufferError(forwarder, exchange, error, closed) })
      : undefined;
    // A streamed body is copied as it passes only when it may be replayed: retries on, and small
    // enough to keep. A buffered body is its own copy.
    const recorder = limited !== undefined && buffered === undefined && settings.retryIdempotentOnReset && settings.maxReplayBodyBytes > 0 ? new ReplayRecorder(settings.maxReplayBodyBytes) : undefined;
    const exchange: Exchange = { req, res, ctx, phase: 'received', outgoing, hasBody, recorder: buffered ?? recorder, attempt: undefined };
    limited?.on('error', (error) => onBodyLimit(forwarder, exchange, error));
    res.once('close', () => onClientClose(forwarder, exchange));
    if (limited === undefined || buffered === undefined) {
      admitFirst(forwarder, exchange, recorder === undefined ? limited : limited?.pipe(recorder));
      return;
    }
    bufferThenAdmit(forwarder, exchange, limited, buffered, () => closed);
  }

  return {
    handle(req, res, ctx) {
      try {
        handle(req, res, ctx);
      } catch (error) {
        // handle() never throws: whatever slipped through becomes a 502 page, not a crash.
        ctx.logger.error({ err: error }, 'proxy handler failed');
        sendError(res, ctx, toUpstreamError(error, ctx.upstream ?? 'none'), { close: true });
      }
    },
    hasHealthyUpstream: () => pool.hasHealthy(),
    upstreamStates: () => pool.states(),
    stats() {
      const failuresByUpstream: Record<string, number> = {};
      for (const state of pool.states()) failuresByUpstream[state.url] = state.failures;
      return { requests, ...forwarder.counters, failuresByUpstream };
    },
    checkUpstreams: () => checker?.checkAll() ?? Promise.resolve(),
    async close() {
      closed = true;
      checker?.close();
      discovery?.close();
      admission.close();
      agent.destroy();
      engine.close();
      await spillDir.close();
    },
  };
}
