/**
 * When sending a request again is safe, and which failures say something about an upstream.
 * Pure functions of the exchange and the error; forward.ts acts on them (and asks the budget).
 */
import type { IncomingMessage } from 'node:http';
import type { TwotierError } from '../../common/errors.js';
import { ClientAbortedError, isConnectionReset, isNeverSent } from './errors.js';
import type { Exchange } from './exchange.js';

/** RFC 9110 §9.2.2: a request that may be sent twice with the effect of once. */
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/**
 * The app tier's draining worker sets `Connection: close` on every response (app-tier/worker.ts);
 * a 503 with it says "this one is going away", so an idempotent request may go elsewhere.
 */
export function isDrainingAnswer(proxyRes: IncomingMessage): boolean {
  return proxyRes.statusCode === 503 && /\bclose\b/i.test(proxyRes.headers.connection ?? '');
}

/**
 * Safe to send again: never sent at all (refused, connect timeout: any method), or reset before
 * any response / turned away by a draining upstream (idempotent methods only: a POST whose bytes
 * reached an app may have been acted on). A reset counts on a fresh socket too: an app box killed
 * with requests in hand resets connections just opened, and nginx's `proxy_next_upstream error`
 * sends idempotent requests on then (RFC 9110 §9.2.2; non-idempotent ones not since nginx 1.9.13).
 * The retry budget bounds how much extra load this can make.
 */
export function isSafeToResend(exchange: Exchange, failure: unknown): boolean {
  if (failure === 'draining') return IDEMPOTENT_METHODS.has(exchange.req.method ?? '');
  if (isNeverSent(failure)) return true;
  return IDEMPOTENT_METHODS.has(exchange.req.method ?? '') && isConnectionReset(failure);
}

/** The client's own fault (body too large) and the keep-alive race say nothing about the upstream's health. */
export function countsAgainstUpstream(exchange: Exchange, reply: TwotierError, error: unknown): boolean {
  if (reply.status < 500 || error instanceof ClientAbortedError) return false;
  return !(reply.code === 'WEB_ERR_UPSTREAM_RESET' && exchange.attempt?.proxyReq?.reusedSocket === true);
}
