/**
 * HTTP-01 (RFC 8555 §8.3): the ACME server fetches
 * `http://NAME/.well-known/acme-challenge/TOKEN` and expects the key authorization as the body.
 * The web tier answers from this in-memory set only, and only while an order is pending (acme.ts
 * adds a token when it accepts a challenge and removes it when the authorization is settled):
 * no file system path is ever built from the request, every other token and every other path
 * under the prefix is a 404, never passed on to the static files or the app.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hasBody } from '../limits.js';

export const ACME_CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

/** RFC 8555 §8.3: the token is base64url (RFC 4648 §5) without padding; §8.1: at least 128 bits of entropy. */
const TOKEN = /^[A-Za-z0-9_-]{16,256}$/;

export interface AcmeChallenges {
  add(token: string, keyAuthorization: string): void;
  remove(token: string): void;
  /** The key authorization for a pending token, else undefined. */
  lookup(token: string): string | undefined;
  readonly size: number;
}

export function createAcmeChallenges(): AcmeChallenges {
  const pending = new Map<string, string>();
  return {
    add(token, keyAuthorization) {
      if (!TOKEN.test(token)) throw new Error(`acme: the server sent a challenge token that is not base64url (${JSON.stringify(token.slice(0, 40))})`);
      pending.set(token, keyAuthorization);
    },
    remove: (token) => void pending.delete(token),
    lookup: (token) => (TOKEN.test(token) ? pending.get(token) : undefined),
    get size() {
      return pending.size;
    },
  };
}

/**
 * Answers a request under the challenge prefix: 200 with the key authorization for a pending
 * token (GET/HEAD), 404 for anything else, 405 for other methods. `pathname` is the raw path
 * as classified (a token never contains '/', '%' or '.', so an encoded or dotted path is a 404).
 */
export function answerChallenge(challenges: AcmeChallenges, req: IncomingMessage, res: ServerResponse, pathname: string): void {
  const method = req.method ?? 'GET';
  const headers: Record<string, string | number> = { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' };
  // The body of a POST here is not read: close after the answer (the connection stage has set lingering).
  if (hasBody(req)) headers['Connection'] = 'close';
  if (method !== 'GET' && method !== 'HEAD') {
    const body = 'Method Not Allowed\n';
    res.writeHead(405, { ...headers, Allow: 'GET, HEAD', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  const keyAuthorization = challenges.lookup(pathname.slice(ACME_CHALLENGE_PREFIX.length));
  const status = keyAuthorization === undefined ? 404 : 200;
  const body = keyAuthorization ?? 'Not Found\n';
  res.writeHead(status, { ...headers, 'Content-Length': Buffer.byteLength(body) });
  res.end(method === 'HEAD' ? undefined : body);
}
