/**
 * One forwarded exchange: wait for an upstream slot, send the attempt through the dispatch chain
 * (engine, timeouts, passive health, retry: dispatch.ts), and write the upstream's response back,
 * or the failure as 502/503/504/413. Each step is a small named function, in the order a request
 * meets them, like http-proxy's own passes; every change of phase is a phase.ts moveTo.
 */
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import type { TwotierError } from '../../common/errors.js';
import { sendError } from '../error-response.js';
import type { Refusal } from './admission.js';
import { BufferedBody } from './body-buffer.js';
import type { AttemptHandler } from './dispatch.js';
import { ClientAbortedError, errorCode, toUpstreamError, upstreamsOverloaded, upstreamUnavailable } from './errors.js';
import type { Attempt, Exchange, Forwarder } from './exchange.js';
import { buildResponseHeaders } from './headers.js';
import { reportFailure } from './interceptors/passive-health.js';
import { watchBodyIdle } from './interceptors/timeouts.js';
import { isSettled, moveTo } from './phase.js';
import type { Upstream } from './pool.js';

/** The first attempt, with the request's body (streamed through the limit counter, or the buffered copy). */
export function admitFirst(forwarder: Forwarder, exchange: Exchange, body: Readable | undefined): void {
  admit(forwarder, exchange, { number: 1, tried: [], upstream: undefined, holdsSlot: false, ticket: undefined, body, proxyReq: undefined, sentAt: 0 }, undefined);
}

/**
 * Queues `attempt` for a slot, then dispatches it. A new attempt replaces the exchange's previous
 * one, whose slot is given back. `retryOf` is the failure a retry answers with when refused.
 */
export function admit(forwarder: Forwarder, exchange: Exchange, attempt: Attempt, avoid: readonly Upstream[] | undefined, retryOf?: unknown): void {
  if (exchange.attempt !== undefined) releaseSlot(forwarder, exchange.attempt);
  exchange.attempt = attempt;
  moveTo(exchange, 'queued');
  attempt.ticket = forwarder.admission.admit(avoid, (upstream) => {
    attempt.ticket = undefined;
    if (exchange.phase !== 'queued' || exchange.attempt !== attempt) {
      forwarder.admission.release(upstream);
      return;
    }
    attempt.upstream = upstream;
    attempt.holdsSlot = true;
    exchange.ctx.upstream = upstream.url;
    moveTo(exchange, 'dispatched');
    attempt.sentAt = performance.now();
    forwarder.send(exchange, attempt, handlerFor(forwarder, exchange, attempt));
  }, (reason) => {
    attempt.ticket = undefined;
    refuse(forwarder, exchange, reason, retryOf);
  });
}

function refuse(forwarder: Forwarder, exchange: Exchange, reason: Refusal, retryOf: unknown): void {
  if (exchange.phase !== 'queued') return;
  if (reason === 'queue-timeout') forwarder.counters.queueTimeouts += 1;
  if (reason === 'queue-full') forwarder.counters.queueFull += 1;
  if (retryOf !== undefined) {
    answer(forwarder, exchange, retryOf);
    return;
  }
  moveTo(exchange, 'failed');
  dropBufferedBody(exchange);
  const error = reason === 'unavailable' ? upstreamUnavailable(forwarder.pool.retryAfterSeconds()) : upstreamsOverloaded(reason);
  exchange.ctx.logger.warn({ code: error.code, reason, upstreams: forwarder.pool.states() }, 'no upstream slot');
  sendError(exchange.res, exchange.ctx, error, { close: !exchange.req.complete });
}

/** The end of the chain: what reaches here was neither retried nor dropped as stale. */
function handlerFor(forwarder: Forwarder, exchange: Exchange, attempt: Attempt): AttemptHandler {
  return {
    onRequest() {},
    onResponse: (proxyRes) => respond(forwarder, exchange, attempt, proxyRes),
    onError: (error) => end(forwarder, exchange, error),
  };
}

function releaseSlot(forwarder: Forwarder, attempt: Attempt): void {
  if (!attempt.holdsSlot) return;
  attempt.holdsSlot = false;
  forwarder.admission.release(attempt.upstream as Upstream);
}

/** The upstream answered: copy status and end-to-end headers, then stream the body. */
function respond(forwarder: Forwarder, exchange: Exchange, attempt: Attempt, proxyRes: IncomingMessage): void {
  const upstream = attempt.upstream as Upstream;
  // The slot is held until the upstream's body ends.
  proxyRes.once('close', () => releaseSlot(forwarder, attempt));
  forwarder.pool.reportSuccess(upstream, performance.now() - attempt.sentAt);
  const { res, ctx } = exchange;
  try {
    // A new list from the raw one: proxyRes.headers must keep Keep-Alive, whose timeout hint
    // node's agent reads when it pools the socket again.
    res.writeHead(proxyRes.statusCode ?? 502, proxyRes.statusMessage, buildResponseHeaders(proxyRes.rawHeaders, ctx.requestId));
  } catch (error) {
    proxyRes.destroy();
    fail(forwarder, exchange, error);
    return;
  }
  moveTo(exchange, 'responding');
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

/**
 * The client's response closed: written whole (done), or the client went away, and the upstream
 * request goes too (http-proxy#1586, #1559).
 */
export function onClientClose(forwarder: Forwarder, exchange: Exchange): void {
  if (exchange.res.writableFinished) {
    if (exchange.phase === 'responding') moveTo(exchange, 'done');
    return;
  }
  const attempt = exchange.attempt;
  attempt?.ticket?.cancel();
  attempt?.proxyReq?.destroy();
  if (exchange.phase === 'responding') moveTo(exchange, 'failed');
  else if (!isSettled(exchange.phase)) abandon(forwarder, exchange, new ClientAbortedError());
}

/** The body crossed the limit: abort the upstream request and answer 413 with the connection closed. */
export function onBodyLimit(forwarder: Forwarder, exchange: Exchange, error: unknown): void {
  exchange.attempt?.proxyReq?.destroy();
  if (isSettled(exchange.phase)) exchange.res.destroy();
  fail(forwarder, exchange, error);
}

/**
 * A failure from outside the dispatch chain (the body limit, the body buffer, a response head the
 * client's response refused): counted against the upstream when it says something about it, then
 * answered. Never retried: none of these is safe to send again.
 */
export function fail(forwarder: Forwarder, exchange: Exchange, error: unknown): void {
  if (isSettled(exchange.phase)) return;
  if (!exchange.res.destroyed) reportFailure(forwarder.pool, exchange, error);
  end(forwarder, exchange, error);
}

/** Every failure ends here, once: answer 502/503/504/413, or just log when nobody listens. */
function end(forwarder: Forwarder, exchange: Exchange, error: unknown): void {
  if (isSettled(exchange.phase)) return;
  if (exchange.res.destroyed) abandon(forwarder, exchange, error);
  else answer(forwarder, exchange, error);
}

function abandon(forwarder: Forwarder, exchange: Exchange, error: unknown): void {
  moveTo(exchange, 'failed');
  const attempt = exchange.attempt;
  if (attempt !== undefined) stopAttempt(forwarder, attempt);
  exchange.ctx.logger.debug({ code: errorCode(error), upstream: attempt?.upstream?.url }, 'client went away; upstream request aborted');
}

/** A request answered while still waiting (a body past the limit) gives its queue place up. */
function stopAttempt(forwarder: Forwarder, attempt: Attempt): void {
  attempt.ticket?.cancel();
  attempt.proxyReq?.destroy();
  releaseSlot(forwarder, attempt);
}

function answer(forwarder: Forwarder, exchange: Exchange, error: unknown): void {
  moveTo(exchange, 'failed');
  const attempt = exchange.attempt;
  if (attempt !== undefined) stopAttempt(forwarder, attempt);
  dropBufferedBody(exchange);
  const url = attempt?.upstream?.url ?? 'none';
  const reply: TwotierError = toUpstreamError(error, url);
  const level = reply.status === 413 ? 'info' : 'warn';
  // A TLS failure says why in words too ("unable to verify the first certificate", "Hostname/IP does not match …").
  const reason = reply.code === 'WEB_ERR_UPSTREAM_TLS' ? { reason: (error as Error).message } : undefined;
  exchange.ctx.logger[level]({ code: reply.code, cause: errorCode(error), upstream: url, attempts: attempt?.number ?? 1, ...reason }, 'proxy answered with an error');
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
export function dropBufferedBody(exchange: Exchange): void {
  const copy = exchange.recorder;
  if (!(copy instanceof BufferedBody)) return;
  // A copy that failed (413, temp space full) is answered from inside its own 'error': given back
  // once that has run its course (the pipe from the request unhooked), not under it.
  if (copy.writableFinished) copy.destroy();
  else setImmediate(() => copy.destroy());
}
