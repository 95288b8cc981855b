/**
 * The web tier's handler for dynamic paths: forwards them to the app tier through http-proxy,
 * with every failure mode that http-proxy's issue tracker knows about neutralised. The request
 * meets these passes in order: already through this deployment (its own Via element, a proxy
 * loop: loop-guard.ts) → 508; body declared too large → 413; no healthy upstream → 503;
 * rewrite the header section at the edge; count the body while it arrives; read it whole, in
 * memory then a temp file (request-buffering.ts), unless its path streams; wait for an upstream slot
 * (queue full or too long → 503); forward; retry when safe, from the buffered copy.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../common/logger.js';
import { bodyTooLargeError, createBodyLimit, declaredBodyTooLarge, requestHasBody } from '../body-limit.js';
import type { RequestContext, RequestHandler, UpgradeEntry } from '../context.js';
import { sendError } from '../error-response.js';
import { createAdmission } from './admission.js';
import { createUpstreamAgent } from './agent.js';
import { BufferedBody, buffersBody } from './body-buffer.js';
import { ReplayRecorder } from './body-replay.js';
import type { ProxyHandlerConfig } from './config.js';
import { compose, type Interceptor } from './dispatch.js';
import type { ProxyEngine } from './engines/engine.js';
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
import { createHealthChecker } from './health-check.js';
import { createInstanceToken, createLoopGuard, createLoopWarning, loopDetected, type UpstreamSetting } from './loop-guard.js';
import { createUpstreamPool, type UpstreamState } from './pool.js';
import { bufferThenAdmit, onBufferError } from './request-buffering.js';
import { createRetryBudget } from './retry-budget.js';
import { createSpillDir } from './spill-file.js';
import { createUpgradeForwarder } from './upgrade.js';
import { upstreamTlsFor } from './upstream-tls.js';

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
  /**
   * `Upgrade: websocket` on a dynamic path (upgrade.ts): the same pool and admission, then a
   * spliced connection. Optional in the type only (RequestHandler's), so a front over several
   * proxies (routed.ts) can pass it on to the group a path belongs to.
   */
  readonly upgrade?: UpgradeEntry | undefined;
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

export interface ProxyHandlerParts {
  readonly logger: Logger;
  /**
   * The deployment's token (loop-guard.ts), the same for every handler a reload or a route builds
   * and for every cluster worker; absent, one of its own (a handler alone is its own deployment).
   */
  readonly instanceToken?: string;
  /** The setting that named these upstreams, for the loop warning; APP_UPSTREAMS when absent. */
  readonly setting?: UpstreamSetting;
}

export function createProxyHandler(options: ProxyHandlerConfig & ProxyHandlerParts): ProxyHandler {
  // Validated once, by web-tier/config.ts against proxy/config.ts's schema: trusted as given.
  const { logger, upstreams, instanceToken, setting, ...settings } = options;
  const guard = createLoopGuard(instanceToken ?? createInstanceToken());
  const warnLoop = createLoopWarning(setting ?? { setting: 'APP_UPSTREAMS' }, upstreams);
  const pool = createUpstreamPool(upstreams, { balance: settings.balance, maxActivePerUpstream: settings.maxSocketsPerUpstream, passiveHealth: settings.passiveHealth });
  const admission = createAdmission(pool, { maxQueue: settings.maxQueue, queueTimeoutMs: settings.queueTimeoutMs });
  // https:// upstreams (issue 15): every connection, pooled, retried or health check, verifies against the same CA.
  const tls = upstreamTlsFor(upstreams, settings.upstreamCaFile);
  const agent = createUpstreamAgent({ maxSockets: settings.maxSocketsPerUpstream, keepAliveIdleMs: settings.keepAliveIdleMs, tls });
  const checker = settings.activeHealth.intervalMs === 0 || upstreams.length === 0 ? undefined : createHealthChecker(pool, settings.activeHealth, logger, tls);
  const discovery = startDiscovery(upstreams, pool, { resolveMs: settings.upstreamResolveMs, checkNew: checker !== undefined, logger });
  const trusted = new Set(settings.trustedProxies.map((address) => normalizeAddress(address)));
  const spillDir = createSpillDir({ parent: settings.bodyTempDir, maxTotalBytes: settings.bodyTempMaxBytes });
  const engine: ProxyEngine = settings.engine === 'plain' ? createPlainEngine(agent, trusted) : createHttpProxyEngine(agent, trusted, logger);
  const budget = createRetryBudget(settings.retryBudget);
  const counters = { retries: 0, retryBudgetExhausted: 0, queueTimeouts: 0, queueFull: 0 };
  // Outermost first: a failure is timed out, then counted against its upstream, then maybe retried.
  const interceptors: Interceptor[] = [passiveHealth(pool), timeouts(settings)];
  if (settings.retryIdempotentOnReset) interceptors.unshift(retry({ budget, counters, pool, maxTries: settings.nextUpstreamTries, admit: (exchange, attempt, avoid, retryOf) => admit(forwarder, exchange, attempt, avoid, retryOf) }));
  const forwarder: Forwarder = { engine, pool, admission, budget, counters, settings, send: compose(interceptors) };
  let requests = 0;
  let closed = false;
  const forwardUpgrade = createUpgradeForwarder({ pool, admission, settings, trusted, tls, guard, onLoop: warnLoop, closed: () => closed, target: (req, ctx) => upstreamTarget(req.url, ctx) });

  function handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void {
    ctx.servedBy = 'app';
    if (closed) {
      sendError(res, ctx, upstreamUnavailable(1));
      return;
    }
    if (guard.looped(req.headers.via)) {
      // Never proxied again: the loop ends at its second pass, whatever led it back here.
      warnLoop(ctx);
      sendError(res, ctx, loopDetected(), { close: !req.complete });
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
    const outgoing = engine.open(req, res, upstreamTarget(req.url, ctx), edgeFactsOf(req, ctx.requestId, guard.via));

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
    upgrade(req, socket, head, ctx) {
      try {
        forwardUpgrade(req, socket, head, ctx);
      } catch (error) {
        // As handle(): a bug here fails this handshake (502), never the process.
        ctx.logger.error({ err: error }, 'proxy upgrade failed');
        sendError(ctx.response, ctx, toUpstreamError(error, ctx.upstream ?? 'none'), { close: true });
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
