/**
 * Precompressed twins: `style.css.br` and `style.css.gz` beside `style.css`, made at build time,
 * so no CPU is spent compressing per request. Which one a client gets is negotiated from
 * Accept-Encoding (RFC 9110 §12.5.3) with the `negotiator` package.
 */
import Negotiator from 'negotiator';

export type ContentCoding = 'br' | 'gzip' | 'identity';

/** Twin suffixes in the server's order of preference (smaller first) when q-values tie. */
export const TWINS: readonly { readonly coding: Exclude<ContentCoding, 'identity'>; readonly suffix: string }[] = [
  { coding: 'br', suffix: '.br' },
  { coding: 'gzip', suffix: '.gz' },
];

const PREFERRED: readonly ContentCoding[] = ['br', 'gzip', 'identity'];

// @types/negotiator lags negotiator 1.x, whose encodings() takes { preferred } to break q ties.
type EncodingNegotiator = { encoding(available: readonly string[], options: { preferred: readonly string[] }): string | undefined };

/**
 * Picks the coding to send among `available` (identity is always available). When the client
 * refuses every coding we have, including identity (`identity;q=0`), the identity form is sent
 * anyway: RFC 9110 §12.5.3 lets a server answer without content coding rather than fail.
 */
export function negotiateEncoding(acceptEncoding: string | undefined, available: readonly ContentCoding[]): ContentCoding {
  if (acceptEncoding === undefined || available.length === 0) return 'identity';
  const negotiator = new Negotiator({ headers: { 'accept-encoding': acceptEncoding } }) as unknown as EncodingNegotiator;
  const chosen = negotiator.encoding([...available, 'identity'], { preferred: PREFERRED });
  return chosen === 'br' || chosen === 'gzip' ? chosen : 'identity';
}
