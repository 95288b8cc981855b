/**
 * CSRF protection for HTML forms that works across processes (cluster workers, a CGI process
 * per request): nothing is kept in memory between requests.
 *
 * Double-submit cookie, signed: the browser holds a random `csrftoken` cookie; each rendered
 * form carries its own token `issuedAt.nonce.mac` where mac = HMAC-SHA256(secret, cookie,
 * issuedAt, nonce). The secret lives in the store, so every process checks every other's
 * tokens. A cross-site page can make the browser send the cookie but cannot read it or forge a
 * matching mac (OWASP CSRF cheat sheet, "signed double-submit cookie"). A fresh nonce per form
 * keeps tokens from repeating in responses (as Django's per-form masking does against BREACH).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AppHeaders } from '../../common/app-interface.js';

export const CSRF_COOKIE = 'csrftoken';
export const CSRF_FIELD = 'csrf_token';
/** A form older than this is refused; long enough to write an article in. */
export const CSRF_MAX_AGE_MS = 4 * 60 * 60 * 1000;
/** Tolerated clock skew between processes (or boxes) for a token issued "in the future". */
const CLOCK_SKEW_MS = 5 * 60 * 1000;
/** The cookie outlives many forms, like Django's CSRF_COOKIE_AGE (a year). */
const COOKIE_MAX_AGE_S = 365 * 24 * 60 * 60;

const COOKIE_VALUE = /^[A-Za-z0-9_-]{43}$/;
const TOKEN = /^([0-9a-z]{1,12})\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{43})$/;

/**
 * Whether the browser's request was https, so the cookie must be `Secure` (RFC 6265 §4.1.2.5):
 * the app tier sits behind the web tier, which terminates the client's connection and always
 * writes X-Forwarded-Proto itself, one value: the scheme of that connection, or the one a
 * proxy in WEB_TRUSTED_PROXIES reports (web-tier/proxy/headers.ts originalProto). A client's
 * own value never gets through it. Anything but exactly `https` counts as http.
 */
export function requestWasHttps(headers: AppHeaders): boolean {
  const proto = headers['x-forwarded-proto'];
  return proto !== undefined && proto.trim().toLowerCase() === 'https';
}

export type CsrfFailure = 'missing-cookie' | 'missing-token' | 'malformed-token' | 'bad-signature' | 'expired';

export interface Csrf {
  /** The cookie to use for this browser: its valid existing one, or a new random one to set. */
  cookieFor(existing: string | undefined): { readonly value: string; readonly isNew: boolean };
  /** A Set-Cookie value for a new cookie. */
  setCookie(value: string, secure: boolean): string;
  /** A fresh token for one form, bound to the cookie. */
  issue(cookie: string): string;
  /** null when the token is valid for the cookie, otherwise why not. */
  check(cookie: string | undefined, token: string | undefined): CsrfFailure | null;
}

export interface CsrfOptions {
  /** The shared signing secret (from the store). */
  readonly secret: string;
  readonly now?: () => number;
  readonly maxAgeMs?: number;
}

export function createCsrf(options: CsrfOptions): Csrf {
  const now = options.now ?? Date.now;
  const maxAgeMs = options.maxAgeMs ?? CSRF_MAX_AGE_MS;

  function mac(cookie: string, issued: string, nonce: string): Buffer {
    return createHmac('sha256', options.secret).update(`csrf-v1\n${cookie}\n${issued}\n${nonce}`).digest();
  }

  return {
    cookieFor(existing) {
      if (existing !== undefined && COOKIE_VALUE.test(existing)) return { value: existing, isNew: false };
      return { value: randomBytes(32).toString('base64url'), isNew: true };
    },
    setCookie(value, secure) {
      // HttpOnly: the token travels in the form, scripts never need the cookie. SameSite=Lax
      // (RFC 6265bis §8.8) already stops most cross-site posts; the token covers the rest.
      return `${CSRF_COOKIE}=${value}; Path=/; Max-Age=${COOKIE_MAX_AGE_S}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
    },
    issue(cookie) {
      const issued = Math.floor(now() / 1000).toString(36);
      const nonce = randomBytes(12).toString('base64url');
      return `${issued}.${nonce}.${mac(cookie, issued, nonce).toString('base64url')}`;
    },
    check(cookie, token) {
      if (cookie === undefined || !COOKIE_VALUE.test(cookie)) return 'missing-cookie';
      if (token === undefined || token === '') return 'missing-token';
      const parts = TOKEN.exec(token);
      if (parts === null) return 'malformed-token';
      const [, issued = '', nonce = '', given = ''] = parts;
      if (!timingSafeEqual(Buffer.from(given, 'base64url'), mac(cookie, issued, nonce))) return 'bad-signature';
      const age = now() - parseInt(issued, 36) * 1000;
      if (age > maxAgeMs || age < -CLOCK_SKEW_MS) return 'expired';
      return null;
    },
  };
}
