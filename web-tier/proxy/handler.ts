/**
 * The web tier's handler for dynamic paths: forwards them to the app tier through http-proxy,
 * with every failure mode that http-proxy's issue tracker knows about neutralised. The request
 * meets these passes in order: body declared too large → 413; pick an upstream (none → 503);
 * rewrite the header section at the edge; count the body while it streams; forward.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import httpProxy from 'http-proxy';
import type { Logger } from '../../common/logger.js';
import { bodyTooLargeError, createBodyLimit, declaredBodyTooLarge, DEFAULT_MAX_BODY_BYTES, requestHasBody } from '../body-limit.js';
import type { RequestContext, RequestHandler } from '../context.js';
import { sendError } from '../error-response.js';
import { createUpstreamAgent } from './agent.js';
import { ClientAbortedError, errorCode, toUpstreamError, upstreamUnavailable } from './errors.js';
import { dispatch, fail, onBodyLimit, onClientClose, onUpstreamResponse, type Exchange, type Forwarder } from './forward.js';
import { bodyFraming, buildRequestHeaders, normalizeAddress } from './headers.js';
import { createUpstreamPool, type PassiveHealthOptions, type UpstreamState } from './pool.js';

export interface ProxyOptions {
  /** Base URLs, e.g. ['http://127.0.0.1:3000'] (APP_UPSTREAMS). */
  upstreams: readonly string[];
  /** From socket assignment until the TCP connection is up. */
  connectTimeoutMs: number;
  /** From the request fully sent until the upstream's response head. */
  responseTimeoutMs: number;
  maxSocketsPerUpstream: number;
  /** Idle pooled connections are closed after this; keep it below the app's keepAliveTimeout (65 s). */
  keepAliveIdleMs: number;
  /** WEB_MAX_BODY. */
  maxBodyBytes: number;
  /** Peer addresses whose X-Forwarded-For is kept (and appended to). */
  trustedProxies: readonly string[];
  retryIdempotentOnReset: boolean;
  /** Passive health (nginx max_fails / fail_timeout); PASSIVE_HEALTH_DEFAULTS when absent. */
  passiveHealth?: PassiveHealthOptions;
}

export const PROXY_DEFAULTS: Omit<ProxyOptions, 'upstreams'> = Object.freeze({
  connectTimeoutMs: 5_000,
  responseTimeoutMs: 30_000,
  maxSocketsPerUpstream: 64,
  keepAliveIdleMs: 30_000,
  maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
  trustedProxies: Object.freeze([]) as readonly string[],
  retryIdempotentOnReset: true,
});

export interface ProxyHandler extends RequestHandler {
  hasHealthyUpstream(): boolean;
  upstreamStates(): readonly UpstreamState[];
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
function checkOptions(options: ProxyOptions): void {
  const positive = ['connectTimeoutMs', 'responseTimeoutMs', 'maxSocketsPerUpstream', 'keepAliveIdleMs'] as const;
  for (const key of positive) {
    if (!Number.isSafeInteger(options[key]) || options[key] < 1) throw new RangeError(`proxy option ${key} must be a positive integer, got ${options[key]}`);
  }
  if (!Number.isSafeInteger(options.maxBodyBytes) || options.maxBodyBytes < 0) {
    throw new RangeError(`proxy option maxBodyBytes must be a non-negative integer, got ${options.maxBodyBytes}`);
  }
}

export function createProxyHandler(options: ProxyOptions & { logger: Logger }): ProxyHandler {
  checkOptions(options);
  const { logger } = options;
  const pool = createUpstreamPool(options.upstreams, options.passiveHealth);
  const agent = createUpstreamAgent({ maxSockets: options.maxSocketsPerUpstream, keepAliveIdleMs: options.keepAliveIdleMs });
  const trusted = new Set(options.trustedProxies.map((address) => normalizeAddress(address)));
  const proxy = httpProxy.createProxyServer({ selfHandleResponse: true, prependPath: false, xfwd: false, ws: false });
  const forwarder: Forwarder = {
    proxy,
    agent,
    pool,
    settings: { connectTimeoutMs: options.connectTimeoutMs, responseTimeoutMs: options.responseTimeoutMs, retryIdempotentOnReset: options.retryIdempotentOnReset },
  };
  const exchanges = new WeakMap<IncomingMessage, Exchange>();
  let closed = false;

  // http-proxy#579: without an 'error' listener, http-proxy throws the first refused connection
  // and the process dies. This listener is the single error path of every exchange.
  proxy.on('error', (error, req, res) => {
    const exchange = exchanges.get(req);
    if (exchange !== undefined) {
      fail(forwarder, exchange, error);
      return;
    }
    logger.error({ code: errorCode(error) }, 'proxy error outside any exchange');
    (res as { destroy?: () => void } | undefined)?.destroy?.();
  });
  proxy.on('proxyRes', (proxyRes, req) => {
    const exchange = exchanges.get(req);
    if (exchange === undefined) proxyRes.destroy();
    else onUpstreamResponse(forwarder, exchange, proxyRes);
  });
  // http-proxy reports a reset while the client socket is already gone as 'econnreset', not 'error'.
  proxy.on('econnreset', (_error, req) => {
    const exchange = exchanges.get(req);
    if (exchange !== undefined) fail(forwarder, exchange, new ClientAbortedError());
  });

  function handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void {
    ctx.servedBy = 'app';
    if (closed) {
      sendError(res, ctx, upstreamUnavailable(1));
      return;
    }
    if (declaredBodyTooLarge(req.headers, options.maxBodyBytes)) {
      // Before reading a byte of it (nginx answers the same way, also under Expect: 100-continue).
      ctx.logger.info({ limit: options.maxBodyBytes }, 'declared request body too large');
      sendError(res, ctx, bodyTooLargeError(options.maxBodyBytes), { close: true });
      return;
    }
    const upstream = pool.pick();
    if (upstream === undefined) {
      ctx.logger.warn({ upstreams: pool.states() }, 'no healthy upstream');
      sendError(res, ctx, upstreamUnavailable(pool.retryAfterSeconds()), { close: !req.complete });
      return;
    }
    ctx.upstream = upstream.url;

    const incoming = req.headers;
    const hasBody = requestHasBody(incoming);
    const facts = {
      peer: normalizeAddress(req.socket.remoteAddress),
      proto: (req.socket as Partial<TLSSocket>).encrypted === true ? 'https' as const : 'http' as const,
      host: incoming.host,
      requestId: ctx.requestId,
    };
    // http-proxy copies req.headers into the upstream request, so the edge's header section
    // replaces it here (http-proxy's own passes mutate req.headers the same way).
    req.headers = buildRequestHeaders(incoming, facts, trusted);

    const body = hasBody ? req.pipe(createBodyLimit(options.maxBodyBytes)) : undefined;
    const exchange: Exchange = {
      req, res, ctx, upstream,
      target: upstreamTarget(req.url, ctx),
      framing: bodyFraming(incoming),
      hasBody,
      body,
      attempts: 0,
      proxyReq: undefined,
      responded: false,
      settled: false,
      clientGone: false,
      timers: [],
    };
    exchanges.set(req, exchange);
    body?.on('error', (error) => onBodyLimit(forwarder, exchange, error));
    res.once('close', () => onClientClose(forwarder, exchange));
    dispatch(forwarder, exchange);
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
    async close() {
      closed = true;
      agent.destroy();
      proxy.close();
    },
  };
}
