/**
 * How the web tier frames the request it forwards (RFC 9112 §6): never as the client's header
 * fields say, always from what node's parser accepted. headers.ts writes these fields; forward.ts
 * sets them again after http-proxy's passes.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** How the outgoing body is framed. Transfer-Encoding is hop-by-hop, so the proxy chooses it again. */
export type BodyFraming = 'none' | 'length' | 'chunked';

export function bodyFraming(headers: IncomingHttpHeaders): BodyFraming {
  // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length (limits.ts rejects both together).
  if (headers['transfer-encoding'] !== undefined) return 'chunked';
  if (headers['content-length'] !== undefined) return 'length';
  return 'none';
}

/** The framing of the forwarded request, with the length for 'length'. */
export type RequestFraming = { readonly kind: 'none' } | { readonly kind: 'chunked' } | { readonly kind: 'length'; readonly length: number };

const NO_BODY: RequestFraming = Object.freeze({ kind: 'none' });
const CHUNKED: RequestFraming = Object.freeze({ kind: 'chunked' });

/**
 * How the web tier frames the request it forwards (RFC 9112 §6), read from the raw header section
 * node's parser accepted (llhttp in strict mode refuses CL + TE together, a repeated or invalid
 * Content-Length, and a Transfer-Encoding that does not end in chunked): chunked when the client's
 * body came chunked, its declared length otherwise, nothing without a body. Never derived from
 * what Connection says, and a body on any method (GET, HEAD, DELETE, OPTIONS included) is framed.
 */
export function requestFraming(rawHeaders: readonly string[]): RequestFraming {
  let length: string | undefined;
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const name = rawHeaders[index] as string;
    if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') return CHUNKED;
    if (name.length === 14 && name.toLowerCase() === 'content-length') {
      // Node would have refused a second one; a proxy that picked one of two would be the smuggling.
      if (length !== undefined) throw new RangeError('request has more than one Content-Length');
      length = (rawHeaders[index + 1] as string).trim();
    }
  }
  if (length === undefined) return NO_BODY;
  if (!/^\d{1,16}$/.test(length)) throw new RangeError('request Content-Length is not a length');
  return { kind: 'length', length: Number(length) };
}

/** The framing fields the web tier writes for `framing` (lower-case names). */
export function framingFields(framing: RequestFraming): string[] {
  if (framing.kind === 'chunked') return ['transfer-encoding', 'chunked'];
  if (framing.kind === 'length') return ['content-length', String(framing.length)];
  return [];
}
