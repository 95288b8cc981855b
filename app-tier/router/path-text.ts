/**
 * Splits a request-target into path and query and builds the text routes match against.
 *
 * Percent-decoding happens once, per segment, after splitting on "/" (RFC 3986 §2.4: decode
 * only after the components are separated), so "%2F" inside a segment is data, never a
 * separator. Inside the match path a decoded "/" stays "%2F" and a decoded "%" becomes "%25":
 * patterns cannot confuse them with separators, and captured values are unescaped exactly once.
 */

export class MalformedPathError extends Error {
  readonly code = 'APP_ERR_BAD_REQUEST';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MalformedPathError';
  }
}

export interface SplitTarget {
  /** The path, still percent-encoded, starting with "/". */
  readonly rawPath: string;
  /** The query including its "?", or "". */
  readonly search: string;
}

const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;

/** Accepts origin-form ("/a?b") and absolute-form ("http://h/a?b", RFC 9112 §3.2.2) targets. */
export function splitTarget(target: string): SplitTarget {
  let rest = target;
  if (!rest.startsWith('/')) {
    const authority = ABSOLUTE_FORM.exec(rest);
    if (authority === null) throw new MalformedPathError(`request-target ${JSON.stringify(target)} is not a path`);
    rest = rest.slice(authority[0].length);
    if (!rest.startsWith('/')) rest = `/${rest}`;
  }
  const hash = rest.indexOf('#');
  if (hash !== -1) rest = rest.slice(0, hash);
  const question = rest.indexOf('?');
  return question === -1
    ? { rawPath: rest, search: '' }
    : { rawPath: rest.slice(0, question), search: rest.slice(question) };
}

/** The match path for a raw path: no leading "/", each segment decoded once. Throws MalformedPathError. */
export function toMatchPath(rawPath: string): string {
  const segments = rawPath.slice(1).split('/');
  return segments
    .map((segment) => {
      let decoded: string;
      try {
        decoded = decodeURIComponent(segment);
      } catch (error) {
        // URIError: a "%" not followed by two hex digits, or bytes that are not UTF-8.
        throw new MalformedPathError(`malformed percent-encoding in path segment ${JSON.stringify(segment)}`, { cause: error });
      }
      return decoded.replace(/[%/]/g, (char) => (char === '%' ? '%25' : '%2F'));
    })
    .join('/');
}

/** Undoes the escaping of toMatchPath inside a captured value. */
export function unescapeMatched(text: string): string {
  return text.replace(/%(?:25|2F)/g, (escape) => (escape === '%25' ? '%' : '/'));
}
