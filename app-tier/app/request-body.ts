/**
 * Reading request bodies and the headers that describe them: media types (RFC 9110 §8.3.1),
 * JSON (415 when the body is not declared as JSON, 400 when it does not parse) and HTML form
 * bodies (application/x-www-form-urlencoded), and cookies (RFC 6265 §5.4).
 */
import type { AppHeaders } from '../../common/app-interface.js';
import { TwotierError } from '../../common/errors.js';

export interface MediaType {
  /** Lower-case type/subtype, e.g. "application/json". */
  readonly type: string;
  /** Lower-case parameter names; values unquoted. */
  readonly parameters: Readonly<Record<string, string>>;
}

export function parseMediaType(value: string | undefined): MediaType | null {
  if (value === undefined) return null;
  const [essence = '', ...rest] = value.split(';');
  const type = essence.trim().toLowerCase();
  if (!/^[!#$%&'*+.^_`|~0-9a-z-]+\/[!#$%&'*+.^_`|~0-9a-z-]+$/.test(type)) return null;
  const parameters: Record<string, string> = {};
  for (const part of rest) {
    const equals = part.indexOf('=');
    if (equals === -1) continue;
    const name = part.slice(0, equals).trim().toLowerCase();
    const raw = part.slice(equals + 1).trim();
    parameters[name] = raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2 ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
  }
  return { type, parameters };
}

/**
 * The default largest request body the application parses, in bytes (APP_MAX_REQUEST_BODY_BYTES);
 * the web tier's own limit (WEB_MAX_BODY) has the same default. Room for a maximal article body
 * even when JSON escapes every byte of it (`\u00XX`, 6 bytes each, is 384 KiB at 64 KiB).
 */
export const DEFAULT_MAX_REQUEST_BODY_BYTES = 1024 * 1024;

/**
 * Refuses a body over the limit before anything parses it (RFC 9110 §15.5.14, 413 Content Too
 * Large). The app tier may be reached without the web tier in front (a multi-box placement's
 * app port, CGI, a web tier configured with a larger WEB_MAX_BODY): its own bound holds anyway.
 */
export function assertBodyWithin(body: Uint8Array, maxBytes: number): void {
  if (body.byteLength > maxBytes) {
    throw new TwotierError('APP_ERR_BODY_TOO_LARGE', `the request body is ${body.byteLength} bytes; the limit is ${maxBytes}`);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeUtf8(body: Uint8Array, what: string): string {
  try {
    return utf8.decode(body);
  } catch (error) {
    throw new TwotierError('APP_ERR_BAD_REQUEST', `${what} body is not valid UTF-8`, { cause: error });
  }
}

function requireUtf8Charset(media: MediaType, accepted: string): void {
  const charset = media.parameters['charset'];
  if (charset !== undefined && charset.toLowerCase() !== 'utf-8') {
    throw new TwotierError('APP_ERR_UNSUPPORTED_MEDIA_TYPE', `charset ${charset} is not supported; send ${accepted} in UTF-8`, {
      headers: { 'Accept-Post': accepted },
    });
  }
}

/** The parsed JSON body. 415 unless Content-Type is application/json (or a +json type); 400 when malformed. */
export function readJson(headers: AppHeaders, body: Uint8Array): unknown {
  const media = parseMediaType(headers['content-type']);
  if (media === null || !(media.type === 'application/json' || media.type.endsWith('+json'))) {
    // RFC 9110 §15.5.16: 415 names the problem; Accept-Post/Accept-Patch (RFC 5789 §3.1) say what would work.
    throw new TwotierError('APP_ERR_UNSUPPORTED_MEDIA_TYPE', 'the request body must be JSON (Content-Type: application/json)', {
      headers: { 'Accept-Post': 'application/json', 'Accept-Patch': 'application/json' },
    });
  }
  requireUtf8Charset(media, 'application/json');
  const text = decodeUtf8(body, 'JSON');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new TwotierError('APP_ERR_BAD_REQUEST', `malformed JSON: ${(error as Error).message}`, { cause: error });
  }
}

export const FORM_TYPE = 'application/x-www-form-urlencoded';

/** The fields of an HTML form post. 415 for any other body type. */
export function readForm(headers: AppHeaders, body: Uint8Array): URLSearchParams {
  const media = parseMediaType(headers['content-type']);
  if (media === null || media.type !== FORM_TYPE) {
    throw new TwotierError('APP_ERR_UNSUPPORTED_MEDIA_TYPE', `the form must be posted as ${FORM_TYPE}`, { headers: { 'Accept-Post': FORM_TYPE } });
  }
  requireUtf8Charset(media, FORM_TYPE);
  // URLSearchParams applies the form rules (WHATWG URL §5.1): "+" is a space, bad escapes are kept as text.
  return new URLSearchParams(decodeUtf8(body, 'form'));
}

/** Cookie header → name/value pairs; the first of duplicate names wins (RFC 6265 §5.4: most specific path first). */
export function parseCookies(header: string | undefined): ReadonlyMap<string, string> {
  const cookies = new Map<string, string>();
  if (header === undefined) return cookies;
  for (const pair of header.split(/;\s*/)) {
    const equals = pair.indexOf('=');
    if (equals <= 0) continue;
    const name = pair.slice(0, equals).trim();
    let value = pair.slice(equals + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (!cookies.has(name)) cookies.set(name, value);
  }
  return cookies;
}
