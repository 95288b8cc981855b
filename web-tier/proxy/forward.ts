/**
 * One forwarded exchange: hand the request to http-proxy, watch the upstream request it creates
 * (timeouts, client abort, retry), and write the upstream's response back. Each step is a small
 * named function, in the order a request meets them, like http-proxy's own passes.
 */
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type http from 'node:http';
import { pipeline, Readable } from 'node:stream';
import type httpProxy from 'http-proxy';
import type { TwotierError } from '../../common/errors.js';
import type { RequestContext } from '../context.js';
import { sendError } from '../error-response.js';
import { createFreshConnectionAgent, withRequestHook } from './agent.js';
import { ClientAbortedError, errorCode, isConnectionReset, toUpstreamError, UpstreamTimeoutError, type TimeoutPhase } from './errors.js';
import { buildResponseHeaders, type BodyFraming } from './headers.js';
import type { Upstream, UpstreamPool } from './pool.js';

export interface ForwardSettings {
  readonly connectTimeoutMs: number;
  readonly responseTimeoutMs: number;
  readonly retryIdempotentOnReset: boolean;
}

/** What every exchange shares: the proxy, the pooled agent, the pool, the settings. */
export interface Forwarder {
  readonly proxy: httpProxy;
  readonly agent: http.Agent;
  readonly pool: UpstreamPool;
  readonly settings: ForwardSettings;
}

export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly ctx: RequestContext;
  upstream: Upstream;
  /** The request-target sent upstream, after the upstream's base path. */
  readonly target: string;
  readonly framing: BodyFraming;
  readonly hasBody: boolean;
  /** The request body through the limit counter; undefined when there is no body. */
  readonly body: Readable | undefined;
  attempts: number;
  proxyReq: ClientRequest | undefined;
  /** The upstream's response head arrived: nothing may be retried after this. */
  responded: boolean;
  /** The client got (or will get) its answer, or is gone: later errors are only logged. */
  settled: boolean;
  clientGone: boolean;
  timers: NodeJS.Timeout[];
}

/** RFC 9110 §9.2.2. Only body-less ones are retried: a streamed body cannot be replayed (#180). */
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export function dispatch(forwarder: Forwarder, exchange: Exchange): void {
  exchange.attempts += 1;
  const first = exchange.attempts === 1;
  // A retry goes out on a fresh connection: the pooled sockets may all be equally stale.
  const agent = first ? forwarder.agent : createFreshConnectionAgent();
  try {
    forwarder.proxy.web(exchange.req, exchange.res, {
      target: exchange.upstream.origin,
      agent: withRequestHook(agent, (proxyReq) => onUpstreamRequest(forwarder, exchange, proxyReq)),
      // The first attempt streams the (limited) body; a retry only happens without a body.
      buffer: first ? exchange.body : Readable.from([]),
      selfHandleResponse: true,
      prependPath: false,
    });
  } catch (error) {
    fail(forwarder, exchange, error);
  }
}

/** Runs before the request head is written: the last word on target and framing, and the timers. */
function onUpstreamRequest(forwarder: Forwarder, exchange: Exchange, proxyReq: ClientRequest): void {
  exchange.proxyReq = proxyReq;
  keepTargetByteIdentical(exchange, proxyReq);
  restoreFraming(exchange.framing, proxyReq);
  armTimeouts(forwarder, exchange, proxyReq);
}

/**
 * http-proxy rebuilds the path with url.parse and joins it with a regex that collapses "//";
 * url.parse also escapes quotes and turns "\" into "/". The app must see the target as sent.
 */
function keepTargetByteIdentical(exchange: Exchange, proxyReq: ClientRequest): void {
  proxyReq.path = exchange.upstream.basePath + exchange.target;
}

/**
 * http-proxy's deleteLength pass sets `Content-Length: 0` and drops Transfer-Encoding on DELETE
 * and OPTIONS without a length: a chunked body would then follow a zero-length request and be
 * read by the app as the next request (smuggling). The body keeps the framing it came with.
 */
function restoreFraming(framing: BodyFraming, proxyReq: ClientRequest): void {
  if (framing !== 'chunked') return;
  proxyReq.removeHeader('content-length');
  proxyReq.setHeader('transfer-encoding', 'chunked');
}

/**
 * Connect timeout from the socket's assignment until it connects; response timeout from the
 * request being fully sent until the response head (nginx's proxy_read_timeout: a slow upload
 * is the client's time, bounded by the server's requestTimeout, not the app's). Both answer 504.
 * The timers belong to this attempt only: a retry's timers must outlive the failed attempt's 'close'.
 */
function armTimeouts(forwarder: Forwarder, exchange: Exchange, proxyReq: ClientRequest): void {
  const { connectTimeoutMs, responseTimeoutMs } = forwarder.settings;
  const timers: NodeJS.Timeout[] = [];
  exchange.timers = timers;
  const expire = (phase: TimeoutPhase, ms: number): void => {
    if (exchange.proxyReq !== proxyReq) return;
    const error = new UpstreamTimeoutError(phase, ms);
    // Answer first: a request still queued in the agent reports its error only when a socket frees up.
    fail(forwarder, exchange, error);
    proxyReq.destroy(error);
  };
  proxyReq.once('socket', (socket) => {
    if (!socket.connecting) return;
    const timer = setTimeout(expire, connectTimeoutMs, 'connect', connectTimeoutMs);
    timers.push(timer);
    socket.once('connect', () => clearTimeout(timer));
  });
  proxyReq.once('finish', () => {
    if (!exchange.responded) timers.push(setTimeout(expire, responseTimeoutMs, 'response', responseTimeoutMs));
  });
  const clear = (): void => {
    for (const timer of timers) clearTimeout(timer);
    timers.length = 0;
  };
  proxyReq.once('response', clear);
  proxyReq.once('close', clear);
}

function clearTimers(exchange: Exchange): void {
  for (const timer of exchange.timers) clearTimeout(timer);
  exchange.timers.length = 0;
}

/** The upstream answered: copy status and end-to-end headers, then stream the body. */
export function onUpstreamResponse(forwarder: Forwarder, exchange: Exchange, proxyRes: IncomingMessage): void {
  clearTimers(exchange);
  exchange.responded = true;
  forwarder.pool.reportSuccess(exchange.upstream);
  if (exchange.settled) {
    proxyRes.destroy();
    return;
  }
  exchange.settled = true;
  const { res, ctx } = exchange;
  try {
    // A new header object: proxyRes.headers must keep Keep-Alive, whose timeout hint node's
    // agent reads when it pools the socket again.
    res.writeHead(proxyRes.statusCode ?? 502, proxyRes.statusMessage, buildResponseHeaders(proxyRes.headers, ctx.requestId));
  } catch (error) {
    exchange.settled = false;
    proxyRes.destroy();
    fail(forwarder, exchange, error);
    return;
  }
  // pipeline destroys both sides on failure: a client abort reaches the upstream socket, and a
  // reset mid-body cuts the client's response instead of leaving it hanging.
  pipeline(proxyRes, res, (error) => {
    if (error !== undefined && error !== null) ctx.logger.debug({ code: errorCode(error), upstream: exchange.upstream.url }, 'proxied response cut short');
  });
}

/** The client went away: abort the upstream request too (http-proxy#1586, #1559). */
export function onClientClose(forwarder: Forwarder, exchange: Exchange): void {
  if (exchange.res.writableFinished) return;
  exchange.clientGone = true;
  exchange.proxyReq?.destroy();
  fail(forwarder, exchange, new ClientAbortedError());
}

/** The body crossed the limit: abort the upstream request and answer 413 with the connection closed. */
export function onBodyLimit(forwarder: Forwarder, exchange: Exchange, error: unknown): void {
  exchange.proxyReq?.destroy();
  if (exchange.settled && !exchange.clientGone) exchange.res.destroy();
  fail(forwarder, exchange, error);
}

/** Every failure ends here, once: retry, or answer 502/503/504/413, or just log when nobody listens. */
export function fail(forwarder: Forwarder, exchange: Exchange, error: unknown): void {
  if (exchange.settled) return;
  clearTimers(exchange);
  const { ctx } = exchange;
  if (exchange.clientGone || exchange.res.destroyed) {
    exchange.settled = true;
    exchange.proxyReq?.destroy();
    ctx.logger.debug({ code: errorCode(error), upstream: exchange.upstream.url }, 'client went away; upstream request aborted');
    return;
  }
  if (shouldRetry(forwarder, exchange, error)) {
    const failed = exchange.upstream;
    exchange.upstream = forwarder.pool.pick() ?? failed;
    ctx.upstream = exchange.upstream.url;
    ctx.logger.info({ code: errorCode(error), upstream: failed.url, retryUpstream: exchange.upstream.url }, 'reused upstream connection was reset; retrying once');
    dispatch(forwarder, exchange);
    return;
  }
  exchange.settled = true;
  exchange.proxyReq?.destroy();
  const answer = toUpstreamError(error, exchange.upstream.url);
  if (countsAgainstUpstream(exchange, answer)) forwarder.pool.reportFailure(exchange.upstream, errorCode(error));
  const level = answer.status === 413 ? 'info' : 'warn';
  ctx.logger[level]({ code: answer.code, cause: errorCode(error), upstream: exchange.upstream.url }, 'proxy answered with an error');
  // An unread body would stall the keep-alive connection; 413 always closes (issue 3).
  sendError(exchange.res, ctx, answer, { close: answer.status === 413 || !exchange.req.complete });
}

/** A reset on a reused keep-alive socket before any response byte, for a body-less idempotent request. */
function shouldRetry(forwarder: Forwarder, exchange: Exchange, error: unknown): boolean {
  return forwarder.settings.retryIdempotentOnReset
    && exchange.attempts === 1
    && !exchange.responded
    && !exchange.hasBody
    && exchange.proxyReq?.reusedSocket === true
    && isConnectionReset(error)
    && IDEMPOTENT_METHODS.has(exchange.req.method ?? '');
}

/** The client's own fault (body too large) and the keep-alive race say nothing about the upstream's health. */
function countsAgainstUpstream(exchange: Exchange, answer: TwotierError): boolean {
  if (answer.status < 500) return false;
  return !(answer.code === 'WEB_ERR_UPSTREAM_RESET' && exchange.proxyReq?.reusedSocket === true);
}
