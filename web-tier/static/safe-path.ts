/**
 * Turns the raw, still percent-encoded request path into path segments that are safe to join
 * onto the web root, or says why it cannot (RFC 3986 §3.3, RFC 9110 §4.2.3).
 *
 * Each segment is percent-decoded exactly once, after splitting on "/", so an encoded slash
 * (`..%2f`) stays inside its segment and is refused rather than becoming a separator, and a
 * double-encoded dot (`%252e`) decodes to the literal text `%2e`, never to "." (the classic
 * double-decoding traversal). Invalid UTF-8, including overlong forms such as `%c0%ae`, makes
 * decodeURIComponent throw, which is a 400.
 */

export type SafePathResult =
  | {
      readonly ok: true;
      /** Decoded, non-empty segments; none is "", ".", ".." or holds "/", "\\" or a control byte. */
      readonly segments: readonly string[];
      /** The canonical decoded URL path: "/" + segments joined, plus "/" when the request had one. */
      readonly urlPath: string;
      readonly trailingSlash: boolean;
    }
  | { readonly ok: false; readonly code: 'WEB_ERR_BAD_REQUEST' | 'WEB_ERR_NOT_FOUND'; readonly reason: string };

// C0 controls and DEL: NUL truncates paths in C APIs, the rest have no business in a file name.
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * RFC 8615 reserves `/.well-known/` for site-wide metadata (ACME challenges, security.txt):
 * the one dot-directory a web root may expose on purpose.
 */
const ALLOWED_DOT_SEGMENTS: ReadonlySet<string> = new Set(['.well-known']);

export function parseStaticPath(pathname: string): SafePathResult {
  if (!pathname.startsWith('/')) return bad('path does not start with "/"');
  // A raw backslash is a separator on Windows and "normalised" to "/" by some clients and
  // proxies: whatever it was meant to be, it is not a name we serve.
  if (pathname.includes('\\')) return bad('backslash in path');
  const raw = pathname.split('/');
  const segments: string[] = [];
  for (let index = 1; index < raw.length; index += 1) {
    const encoded = raw[index] ?? '';
    // Empty segments ("//") are merged like nginx's merge_slashes; the canonical form used for
    // redirects has none, so "//evil.example" can never come back as a protocol-relative URL.
    if (encoded === '') continue;
    let segment: string;
    try {
      segment = encoded.includes('%') ? decodeURIComponent(encoded) : encoded;
    } catch {
      return bad('invalid percent-encoding or UTF-8');
    }
    if (CONTROL.test(segment)) return bad('control character in path');
    if (segment.includes('/') || segment.includes('\\')) return bad('encoded separator in path');
    if (segment === '.' || segment === '..') return bad('dot segment in path');
    if (segment.startsWith('.') && !ALLOWED_DOT_SEGMENTS.has(segment)) {
      return { ok: false, code: 'WEB_ERR_NOT_FOUND', reason: 'dotfile' };
    }
    segments.push(segment);
  }
  const trailingSlash = pathname.endsWith('/');
  const joined = segments.join('/');
  const urlPath = joined === '' ? '/' : `/${joined}${trailingSlash ? '/' : ''}`;
  return { ok: true, segments, urlPath, trailingSlash };
}

function bad(reason: string): SafePathResult {
  return { ok: false, code: 'WEB_ERR_BAD_REQUEST', reason };
}

/**
 * Builds a path-absolute URL for `segments`, each percent-encoded, with a trailing slash: the
 * Location of a directory redirect. It starts with exactly one "/" followed by an encoded,
 * non-empty segment, so it is never protocol-relative ("//host") and never names another host;
 * the request's Host header plays no part (RFC 9110 §10.2.2 allows a relative reference).
 */
export function directoryLocation(segments: readonly string[], search: string): string {
  const path = segments.map(encodeSegment).join('/');
  return `/${path}${path === '' ? '' : '/'}${search}`;
}

/** encodeURIComponent keeps the sub-delims RFC 3986 §3.3 allows in a segment readable. */
export function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/%(?:21|24|26|27|28|29|2A|2B|2C|3B|3D|3A|40)/g, (escape) => decodeURIComponent(escape));
}
