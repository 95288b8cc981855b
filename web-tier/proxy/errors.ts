/**
 * Upstream failures → typed errors with the status the web tier answers. Refused, reset,
 * unresolvable or garbled → 502; too slow → 504; nothing healthy → 503. Never 500, and never the
 * errno in the body (sendError shows only the code and the request id; the cause goes to the log).
 */
import { TwotierError } from '../../common/errors.js';
import { isTlsFailure, isTlsHandshakeFailure } from './upstream-tls.js';

/** connect: until the TCP connection is up; response: until the response head; body: between two body chunks. */
export type TimeoutPhase = 'connect' | 'response' | 'body';

/**
 * http-proxy's own `proxyTimeout` aborts the request and reports "socket hang up" (ECONNRESET),
 * indistinguishable from a reset (http-proxy#1331). The proxy destroys the upstream request with
 * this error instead, so a timeout is always known to be one.
 */
export class UpstreamTimeoutError extends Error {
  readonly code = 'UPSTREAM_TIMEOUT';
  readonly phase: TimeoutPhase;
  constructor(phase: TimeoutPhase, ms: number) {
    super(`upstream ${phase} timeout after ${ms} ms`);
    this.name = 'UpstreamTimeoutError';
    this.phase = phase;
  }
}

/** Raised on the client side when the client went away before the answer: nobody to answer. */
export class ClientAbortedError extends Error {
  readonly code = 'CLIENT_ABORTED';
  constructor() {
    super('client closed the connection before the response was complete');
    this.name = 'ClientAbortedError';
  }
}

const REFUSED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL']);
const RESET = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);

/** A short, log-safe code for an error: the errno code, or the error's name. */
export function errorCode(error: unknown): string {
  if (error !== null && typeof error === 'object') {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    const name = (error as { name?: unknown }).name;
    if (typeof name === 'string' && name !== '') return name;
  }
  return 'UNKNOWN';
}

/**
 * True when the request never left: the connection was refused, the name did not resolve, or the
 * TLS handshake failed (node writes an https request only on a socket that verified).
 */
export function isNeverSent(error: unknown): boolean {
  const code = errorCode(error);
  return REFUSED.has(code) || isTlsHandshakeFailure(code) || (error instanceof UpstreamTimeoutError && error.phase === 'connect');
}

/** True for a connection reset: on a reused keep-alive socket, this is the idle-close race. */
export function isConnectionReset(error: unknown): boolean {
  return RESET.has(errorCode(error));
}

/** Maps a failure of the upstream exchange to the error the client is answered with. */
export function toUpstreamError(error: unknown, upstreamUrl: string): TwotierError {
  if (error instanceof TwotierError) return error;
  const code = errorCode(error);
  const message = `upstream ${upstreamUrl} failed (${code})`;
  if (error instanceof UpstreamTimeoutError || code === 'ETIMEDOUT') {
    return new TwotierError('WEB_ERR_UPSTREAM_TIMEOUT', message, { cause: error });
  }
  if (REFUSED.has(code)) return new TwotierError('WEB_ERR_UPSTREAM_REFUSED', message, { cause: error });
  if (RESET.has(code)) return new TwotierError('WEB_ERR_UPSTREAM_RESET', message, { cause: error });
  if (isTlsFailure(code)) return new TwotierError('WEB_ERR_UPSTREAM_TLS', `upstream ${upstreamUrl}: TLS failed (${code})`, { cause: error });
  return new TwotierError('WEB_ERR_UPSTREAM_BAD_RESPONSE', message, { cause: error });
}

/** Every healthy upstream is at its cap and the queue is full or was waited on too long: 503, try again soon. */
export function upstreamsOverloaded(reason: 'queue-full' | 'queue-timeout'): TwotierError {
  return new TwotierError('WEB_ERR_OVERLOADED', `upstreams busy (${reason})`, { headers: { 'Retry-After': '1' } });
}

/** No configured or healthy upstream: 503 with Retry-After (RFC 9110 §10.2.3). */
export function upstreamUnavailable(retryAfterSeconds: number): TwotierError {
  return new TwotierError('WEB_ERR_UPSTREAM_UNAVAILABLE', 'no healthy upstream', { headers: { 'Retry-After': String(retryAfterSeconds) } });
}
