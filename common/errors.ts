/**
 * The typed error catalogue. Every error a tier answers with carries a stable code, the HTTP
 * status it maps to, and the underlying cause. Tests assert on `code` and `status`, never on
 * message text.
 */

export const ERROR_CATALOGUE = {
  // Configuration (start-up): never an HTTP status, exit code 1.
  CONFIG_INVALID: 0,
  // Web tier, request parsing and limits.
  WEB_ERR_BAD_REQUEST: 400,
  WEB_ERR_FORBIDDEN: 403,
  WEB_ERR_NOT_FOUND: 404,
  WEB_ERR_METHOD_NOT_ALLOWED: 405,
  WEB_ERR_REQUEST_TIMEOUT: 408,
  WEB_ERR_PRECONDITION_FAILED: 412,
  WEB_ERR_BODY_TOO_LARGE: 413,
  WEB_ERR_URI_TOO_LONG: 414,
  WEB_ERR_RANGE_NOT_SATISFIABLE: 416,
  WEB_ERR_MISDIRECTED: 421,
  // RFC 6585 §4: a client over its per-client request rate (peer-guard.ts), with Retry-After.
  WEB_ERR_TOO_MANY_REQUESTS: 429,
  WEB_ERR_HEADERS_TOO_LARGE: 431,
  WEB_ERR_INTERNAL: 500,
  WEB_ERR_NOT_IMPLEMENTED: 501,
  // RFC 9110 §15.6.6: a request line naming a major version this server does not speak (HTTP/2.0).
  WEB_ERR_HTTP_VERSION: 505,
  // Web tier, upstream failures: never 500 for an upstream failure.
  WEB_ERR_UPSTREAM_REFUSED: 502,
  WEB_ERR_UPSTREAM_RESET: 502,
  WEB_ERR_UPSTREAM_BAD_RESPONSE: 502,
  // An https:// upstream whose certificate or name did not verify, or that spoke no TLS (issue 15).
  WEB_ERR_UPSTREAM_TLS: 502,
  WEB_ERR_UPSTREAM_UNAVAILABLE: 503,
  WEB_ERR_OVERLOADED: 503,
  WEB_ERR_UPSTREAM_TIMEOUT: 504,
  // RFC 5842 §7.2: a request that came back to the web tier it had passed through (proxy/loop-guard.ts).
  WEB_ERR_LOOP_DETECTED: 508,
  // App tier.
  APP_ERR_BAD_REQUEST: 400,
  APP_ERR_VALIDATION: 400,
  APP_ERR_UNAUTHORIZED: 401,
  APP_ERR_FORBIDDEN: 403,
  APP_ERR_NOT_FOUND: 404,
  APP_ERR_METHOD_NOT_ALLOWED: 405,
  // RFC 9110 §15.5.20: an operator endpoint asked for under a Host it does not answer (DNS rebinding).
  APP_ERR_MISDIRECTED: 421,
  // RFC 9110 §15.5.14 Content Too Large: a request body over maxRequestBodyBytes.
  APP_ERR_BODY_TOO_LARGE: 413,
  // RFC 6585 §5: more header fields than maxHeaderFields (never a silently truncated set).
  APP_ERR_HEADERS_TOO_LARGE: 431,
  APP_ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  APP_ERR_INTERNAL: 500,
  APP_ERR_STORE_UNAVAILABLE: 503,
  APP_ERR_OPERATOR_UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export interface TwotierErrorOptions {
  cause?: unknown;
  /** Extra, safe-to-show detail (e.g. the offending field). */
  field?: string;
  /** Headers the response must carry (Allow, Retry-After, WWW-Authenticate). */
  headers?: Record<string, string>;
}

export class TwotierError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly field: string | undefined;
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, message: string, options: TwotierErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TwotierError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code];
    this.field = options.field;
    this.headers = Object.freeze({ ...options.headers });
  }
}

export function isTwotierError(value: unknown): value is TwotierError {
  return value instanceof TwotierError;
}
