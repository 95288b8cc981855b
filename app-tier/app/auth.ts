/** Bearer-token protection for article writes (RFC 6750), used when APP_TOKEN is set. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AppHeaders } from '../../common/app-interface.js';
import { TwotierError } from '../../common/errors.js';

const REALM = 'twotier';

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Compares digests of equal length, so neither the token nor its length leaks through timing. */
export function tokenMatches(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** The token in `Authorization: Bearer <token>` (the scheme is case-insensitive, RFC 9110 §11.1), or undefined. */
export function bearerToken(headers: AppHeaders): string | undefined {
  const match = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(headers['authorization'] ?? '');
  return match?.[1];
}

/**
 * Throws 401 unless the request carries the token. RFC 6750 §3: no credentials → a bare
 * challenge; wrong credentials → error="invalid_token".
 */
export function requireBearer(headers: AppHeaders, appToken: string | undefined, formToken?: string): void {
  if (appToken === undefined || appToken === '') return;
  const given = bearerToken(headers) ?? (formToken === '' ? undefined : formToken);
  if (given === undefined) {
    throw new TwotierError('APP_ERR_UNAUTHORIZED', 'this write needs Authorization: Bearer <APP_TOKEN>', {
      headers: { 'WWW-Authenticate': `Bearer realm="${REALM}"` },
    });
  }
  if (!tokenMatches(given, appToken)) {
    throw new TwotierError('APP_ERR_UNAUTHORIZED', 'the bearer token is not valid', {
      headers: { 'WWW-Authenticate': `Bearer realm="${REALM}", error="invalid_token"` },
    });
  }
}
