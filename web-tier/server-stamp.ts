/**
 * Per-request identity on the way in: the request id (issue 7). response.ts stamps it (and
 * X-Served-By) on the way out.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

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
