/**
 * One forwarded exchange: wait for an upstream slot, hand the request to http-proxy, watch the
 * upstream request it creates (timeouts, client abort), retry when that is safe, and write the
 * upstream's response back. Each step is a small named function, in the order a request meets
 * them, like http-proxy's own passes.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import type http from 'node:http';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import type { TwotierError } from '../../common/errors.js';
import { sendError } from '../error-response.js';
import type { Refusal } from './admission.js';
import { createFreshConnectionAgent, withRequestHook } from './agent.js';
import { ClientAbortedError, errorCode, toUpstreamError, upstreamsOverloaded, upstreamUnavailable } from './errors.js';
import type { Exchange, Forwarder } from './exchange.js';
import { BufferedBody } from './body-buffer.js';
import { buildResponseHeaders, type RequestFraming } from './headers.js';
import type { Upstream } from './pool.js';
import { countsAgainstUpstream, isDrainingAnswer, isSafeToResend } from './retry-policy.js';
import { armTimeouts, clearTimers, watchBodyIdle } from './timeouts.js';

/** Waits for a slot (or not), then dispatches. `retryOf` is the failure a retry answers with when refused. */
export function admit(forwarder: Forwarder, exchange: Exchange, avoid: Upstream | undefined, retryOf?: unknown): void {
  exchange.ticket = forwarder.admission.admit(avoid, (upstream) => {
    exchange.ticket = undefined;
    if (exchange.settled) {
      forwarder.admission.release(upstream);
      return;
    }
    exchange.upstream = upstream;
    exchange.slot = upstream;
    exchange.ctx.upstream = upstream.url;
    dispatch(forwarder, exchange);
  }, (reason) => {
    exchange.ticket = undefined;
    refuse(forwarder, exchange, reason, retryOf);
  });
}

function refuse(forwarder: Forwarder, exchange: Exchange, reason: Refusal, retryOf: unknown): void {
  if (exchange.settled) return;
  if (reason === 'queue-timeout') forwarder.counters.queueTimeouts += 1;
  if (reason === 'queue-full') forwarder.counters.queueFull += 1;
  if (retryOf !== undefined) {
    answer(forwarder, exchange, retryOf);
    return;
  }
  exchange.settled = true;
  dropBufferedBody(exchange);
  const error = reason === 'unavailable' ? upstreamUnavailable(forwarder.pool.retryAfterSeconds()) : upstreamsOverloaded(reason);
  exchange.ctx.logger.warn({ code: error.code, reason, upstreams: forwarder.pool.states() }, 'no upstream slot');
  sendError(exchange.res, exchange.ctx, error, { close: !exchange.req.complete });
}

function dispatch(forwarder: Forwarder, exchange: Exchange): void {
  exchange.responded = false;
  exchange.sentAt = performance.now();
  const attempt = exchange.attempts;
  const first = attempt === 1;
  // A retry goes out on a fresh connection: the pooled sockets may all be equally stale.
  const agent = first ? forwarder.agent : createFreshConnectionAgent();
  if (forwarder.settings.engine === 'plain') {
    dispatchPlain(forwarder, exchange, agent, attempt);
    return;
  }
  forwarder.dispatching = exchange;
  try {
    forwarder.proxy.web(exchange.req, exchange.res, {
      target: targetOf(exchange.upstream as Upstream),
      // toProxy: http-proxy then takes req.url as it is instead of url.parse()-ing it per request;
      // the path is set in onUpstreamRequest anyway.
      toProxy: true,
      agent: first ? forwarder.hookedAgent : withRequestHook(agent, (proxyReq) => onUpstreamRequest(forwarder, exchange, proxyReq)),
      buffer: first ? exchange.body : (exchange.replayBody ?? Readable.from([])),
      selfHandleResponse: true,
      prependPath: false,
    }, (error) => {
      // A per-call callback instead of the proxy's 'error' event: the failed attempt's upstream
      // request may still report its own destruction after a retry is under way.
      if (exchange.attempts === attempt) fail(forwarder, exchange, error);
    });
  } catch (error) {
    fail(forwarder, exchange, error);
  } finally {
    forwarder.dispatching = undefined;
  }
}

/**
 * One hooked agent for every first attempt, instead of an Object.create() per request (issue 8:
 * per-request churn). The hook finds its exchange in `forwarder.dispatching`, set around the
 * synchronous proxy.web() call; a request created outside one is refused rather than sent
 * without its timers and exact target.
 */
export function createForwarderAgent(forwarder: Omit<Forwarder, 'hookedAgent'>): http.Agent {
  return withRequestHook(forwarder.agent, (proxyReq) => {
    const exchange = forwarder.dispatching;
    if (exchange === undefined) proxyReq.destroy(new Error('upstream request outside any exchange'));
    else onUpstreamRequest(forwarder as Forwarder, exchange, proxyReq);
  });
}

/** http-proxy url.parse()s a string target on every request; a parsed one is used as is. */
const targets = new WeakMap<Upstream, { protocol: 'http:'; host: string; hostname: string; port: number }>();
function targetOf(upstream: Upstream): { protocol: 'http:'; host: string; hostname: string; port: number } {
  let target = targets.get(upstream);
  if (target === undefined) {
    target = { protocol: 'http:', host: upstream.hostname, hostname: upstream.hostname, port: upstream.port };
    targets.set(upstream, target);
  }
  return target;
}

/**
 * The same exchange without http-proxy: what its web-incoming passes do for this configuration
 * (copy the headers, pipe the body, report the response), minus its per-request url.parse,
 * options merge and pass loop. Everything else (timeouts, retries, response) is shared.
 */
function dispatchPlain(forwarder: Forwarder, exchange: Exchange, agent: http.Agent, attempt: number): void {
  const upstream = exchange.upstream as Upstream;
  const { req } = exchange;
  let proxyReq: ClientRequest;
  try {
    // A header list is written as it is: node stores the head at once, path and framing included,
    // and adds no Host of its own (an HTTP/1.0 client may have sent none: the upstream's, as node would).
    const list = exchange.headerList;
    const headers = list === undefined ? req.headers : req.headers.host === undefined ? [...list, 'Host', upstream.origin.slice('http://'.length)] : list;
    proxyReq = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: upstream.basePath + exchange.target, headers, agent });
  } catch (error) {
    fail(forwarder, exchange, error);
    return;
  }
  onUpstreamRequest(forwarder, exchange, proxyReq);
  proxyReq.on('error', (error) => {
    if (exchange.attempts === attempt) fail(forwarder, exchange, error);
  });
  proxyReq.once('response', (proxyRes: IncomingMessage) => {
    if (exchange.attempts === attempt) onUpstreamResponse(forwarder, exchange, proxyRes);
    else proxyRes.destroy();
  });
  const body = attempt === 1 ? exchange.body : exchange.replayBody;
  if (body === undefined) proxyReq.end();
  else body.pipe(proxyReq);
}

/** Runs before the request head is written: the last word on target and framing, and the timers. */
function onUpstreamRequest(forwarder: Forwarder, exchange: Exchange, proxyReq: ClientRequest): void {
  exchange.proxyReq = proxyReq;
  // A request made from a header list (plain engine) has its head stored already, exact.
  if (!proxyReq.headersSent) {
    // http-proxy rebuilds the path with url.parse and a regex that collapses "//" and turns "\"
    // into "/": the app must see the target as sent.
    proxyReq.path = (exchange.upstream as Upstream).basePath + exchange.target;
    restoreFraming(exchange.framing, proxyReq);
  }
  armTimeouts(forwarder.settings, exchange, proxyReq, (error) => fail(forwarder, exchange, error));
}

/**
 * The framing of the upstream request is the web tier's (RFC 9112 §6; framing.ts requestFraming),
 * whatever http-proxy's passes did to the header object: its deleteLength pass sets
 * `Content-Length: 0` and drops Transfer-Encoding on DELETE and OPTIONS without a length, so a
 * chunked body would follow a zero-length request and be read by the app as the next request
 * (smuggling). Set again here, exactly as the plain engine's header list has it.
 */
function restoreFraming(framing: RequestFraming, proxyReq: ClientRequest): void {
  if (framing.kind === 'length') {
    proxyReq.removeHeader('transfer-encoding');
    proxyReq.setHeader('content-length', String(framing.length));
  } else if (framing.kind === 'chunked') {
    proxyReq.removeHeader('content-length');
    proxyReq.setHeader('transfer-encoding', 'chunked');
  } else {
    proxyReq.removeHeader('content-length');
    proxyReq.removeHeader('transfer-encoding');
  }
}

function releaseSlot(forwarder: Forwarder, exchange: Exchange): void {
  const slot = exchange.slot;
  if (slot === undefined) return;
  exchange.slot = undefined;
  forwarder.admission.release(slot);
}

/** The upstream answered: copy status and end-to-end headers, then stream the body. */
export function onUpstreamResponse(forwarder: Forwarder, exchange: Exchange, proxyRes: IncomingMessage): void {
  clearTimers(exchange);
  const upstream = exchange.upstream as Upstream;
  // The slot is held until the upstream's body ends; a retry by then holds a slot of its own.
  const attempt = exchange.attempts;
  proxyRes.once('close', () => {
    if (exchange.attempts === attempt) releaseSlot(forwarder, exchange);
  });
  if (exchange.settled) {
    proxyRes.destroy();
    return;
  }
  if (isDrainingAnswer(proxyRes)) {
    forwarder.pool.reportDraining(upstream);
    if (retryElsewhere(forwarder, exchange, 'draining')) {
      proxyRes.resume();
      return;
    }
  }
  exchange.responded = true;
  forwarder.pool.reportSuccess(upstream, performance.now() - exchange.sentAt);
  exchange.settled = true;
  const { res, ctx } = exchange;
  try {
    // A new list from the raw one: proxyRes.headers must keep Keep-Alive, whose timeout hint
    // node's agent reads when it pools the socket again.
    res.writeHead(proxyRes.statusCode ?? 502, proxyRes.statusMessage, buildResponseHeaders(proxyRes.rawHeaders, ctx.requestId));
  } catch (error) {
    exchange.settled = false;
    proxyRes.destroy();
    fail(forwarder, exchange, error);
    return;
  }
  watchBodyIdle(forwarder.settings.bodyIdleTimeoutMs, proxyRes, () => {
    forwarder.pool.reportFailure(upstream, 'UPSTREAM_TIMEOUT');
    ctx.logger.warn({ code: 'WEB_ERR_UPSTREAM_TIMEOUT', cause: 'UPSTREAM_TIMEOUT', phase: 'body', upstream: upstream.url }, 'upstream body stalled; response cut');
  });
  // pipe, not pipeline: pipeline builds an AbortController (and a DOMException) per call, a
  // measurable share of a proxied request. Both failure directions are wired by hand: a reset
  // mid-body cuts the client's response instead of leaving it hanging, and a client abort
  // reaches the upstream socket through onClientClose.
  proxyRes.once('error', (error) => {
    ctx.logger.debug({ code: errorCode(error), upstream: upstream.url }, 'proxied response cut short');
    res.destroy();
  });
  proxyRes.once('aborted', () => res.destroy());
  proxyRes.pipe(res);
}

/** The client went away: abort the upstream request too (http-proxy#1586, #1559). */
export function onClientClose(forwarder: Forwarder, exchange: Exchange): void {
  if (exchange.res.writableFinished) return;
  exchange.clientGone = true;
  exchange.ticket?.cancel();
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
    exchange.ticket?.cancel();
    exchange.proxyReq?.destroy();
    releaseSlot(forwarder, exchange);
    ctx.logger.debug({ code: errorCode(error), upstream: exchange.upstream?.url }, 'client went away; upstream request aborted');
    return;
  }
  const upstream = exchange.upstream;
  if (upstream !== undefined && countsAgainstUpstream(exchange, toUpstreamError(error, upstream.url), error)) {
    forwarder.pool.reportFailure(upstream, errorCode(error));
  }
  if (retryElsewhere(forwarder, exchange, error)) return;
  answer(forwarder, exchange, error);
}

function answer(forwarder: Forwarder, exchange: Exchange, error: unknown): void {
  exchange.settled = true;
  // A request answered while still waiting (a body past the limit) gives its queue place up.
  exchange.ticket?.cancel();
  exchange.proxyReq?.destroy();
  releaseSlot(forwarder, exchange);
  dropBufferedBody(exchange);
  const url = exchange.upstream?.url ?? 'none';
  const reply: TwotierError = toUpstreamError(error, url);
  const level = reply.status === 413 ? 'info' : 'warn';
  exchange.ctx.logger[level]({ code: reply.code, cause: errorCode(error), upstream: url, attempts: exchange.attempts }, 'proxy answered with an error');
  // An unread body would stall the keep-alive connection; 413 always closes (issue 3).
  sendError(exchange.res, exchange.ctx, reply, { close: reply.status === 413 || !exchange.req.complete });
}

/**
 * An exchange answered by the web tier itself (503, 502, 413 …) sends its body nowhere: the
 * buffered copy, memory and temp space, is given back now. The response's 'close' (which
 * request-buffering.ts also waits for) comes only once the response is written, and node holds
 * a pipelined request's response behind the ones before it: one connection whose first request
 * waits on a slow upstream could otherwise pipeline bodies that are answered 503 at once and
 * still pin them, up to the whole temp budget, for as long as that first request waits
 * (attacker's review of issue 12 item 3; test/web-tier/proxy/pipelined-bodies.test.ts).
 */
function dropBufferedBody(exchange: Exchange): void {
  const copy = exchange.recorder;
  if (!(copy instanceof BufferedBody)) return;
  // A copy that failed (413, temp space full) is answered from inside its own 'error': given back
  // once that has run its course (the pipe from the request unhooked), not under it.
  if (copy.writableFinished) copy.destroy();
  else setImmediate(() => copy.destroy());
}

/**
 * Retries once, on another upstream when there is one, a request that failed before any response
 * byte when sending it again is safe: never sent at all (refused, connect timeout: any method), or
 * reset on a reused keep-alive socket / turned away by a draining upstream (idempotent methods
 * only: a POST whose bytes reached an app may have been acted on). A body is resent only from the
 * bounded replay copy. The retry budget has the last word.
 */
function retryElsewhere(forwarder: Forwarder, exchange: Exchange, error: unknown): boolean {
  if (!forwarder.settings.retries || exchange.attempts !== 1 || exchange.responded) return false;
  const failed = exchange.upstream;
  if (failed === undefined) return false;
  const draining = error === 'draining';
  if (!isSafeToResend(exchange, error)) return false;
  let replay: Readable | undefined;
  if (exchange.hasBody) {
    replay = exchange.recorder?.replay();
    if (replay === undefined) return false;
  }
  if (!forwarder.budget.tryRetry()) {
    forwarder.counters.retryBudgetExhausted += 1;
    exchange.ctx.logger.warn({ upstream: failed.url }, 'retry budget exhausted; not retrying');
    return false;
  }
  forwarder.counters.retries += 1;
  exchange.attempts += 1;
  exchange.replayBody = replay;
  exchange.proxyReq?.destroy();
  exchange.proxyReq = undefined;
  releaseSlot(forwarder, exchange);
  const cause = draining ? 'DRAINING' : errorCode(error);
  exchange.ctx.logger.info({ code: cause, upstream: failed.url }, 'upstream failed before answering; retrying once');
  admit(forwarder, exchange, failed, draining ? upstreamUnavailable(1) : error);
  return true;
}

