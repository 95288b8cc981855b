/**
 * Per-request identity on the way in and labels on the way out: the request id (issue 7) and
 * the X-Served-By / X-Request-Id / Connection headers every response carries.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestContext } from './context.js';

/** Incoming ids are kept only from trusted proxies, and only when they cannot inject anything into logs or headers. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function peerAddress(req: IncomingMessage): string {
  const address = req.socket.remoteAddress ?? '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** A trusted proxy's valid X-Request-Id, else a fresh UUID. */
export function requestIdFor(req: IncomingMessage, trustedProxies: ReadonlySet<string>): string {
  const incoming = req.headers['x-request-id'];
  if (typeof incoming === 'string' && REQUEST_ID.test(incoming) && trustedProxies.has(peerAddress(req))) return incoming;
  return randomUUID();
}

/** X-Served-By and X-Request-Id on every response, whoever writes its head; Connection: close while draining. */
export function stampHeaders(res: ServerResponse, ctx: RequestContext, draining: () => boolean): void {
  const writeHead = res.writeHead;
  res.writeHead = function stampedWriteHead(this: ServerResponse, ...args: unknown[]): ServerResponse {
    if (!this.headersSent) {
      // The proxy labels the app's responses itself; an app-bound request whose head is
      // written without that label is the web tier's own answer (a 502/503/504 page).
      if (!this.hasHeader('x-served-by')) this.setHeader('X-Served-By', ctx.servedBy === 'app' ? 'web' : ctx.servedBy);
      if (!this.hasHeader('x-request-id')) this.setHeader('X-Request-Id', ctx.requestId);
      // RFC 9112 §9.6: tell a keep-alive client this connection ends with this response.
      if (draining()) this.setHeader('Connection', 'close');
    }
    return (writeHead as (...rest: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['writeHead'];
}
