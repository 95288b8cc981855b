/**
 * Decides, once per request, which handler answers it: the web tier's own health endpoints,
 * the operator's endpoints (`/-/…`), the static files, the app (dynamic prefixes) or the CGI gateway. Pure: a method and a
 * request-target in, a decision out. Anything that could make two parts of the system
 * disagree about a path (dot-segments hidden behind percent-encoding, backslashes, NUL,
 * malformed or overlong UTF-8) is rejected here, before the decision, so `/api/../secret`
 * can never reach the static handler as `/secret` nor `/static/..%2fapi/x` the app.
 */
import type { ErrorCode } from '../common/errors.js';

export type RouteKind = 'health' | 'operator' | 'static' | 'app' | 'cgi' | 'asterisk';

export interface Route {
  readonly kind: RouteKind;
  /**
   * The path, still percent-encoded, with encoded unreserved characters decoded (RFC 3986
   * §6.2.2.2), so every handler sees the same path the decision was made on.
   */
  readonly pathname: string;
  /** "?query" or "". */
  readonly search: string;
  /** The request-target as received, reduced to origin-form when it came in absolute-form. */
  readonly target: string;
  /** From an absolute-form target (RFC 9112 §3.2.2): host[:port] that replaces the Host header. */
  readonly authority?: string;
}

export interface Rejection {
  readonly kind: 'reject';
  readonly code: ErrorCode;
  /** For the log only; never sent to the client. */
  readonly reason: string;
}

export type Decision = Route | Rejection;

export interface ClassifyOptions {
  /** Path prefixes served by the app, each starting and ending with "/", e.g. ["/api/", "/articles/"]. */
  readonly dynamicPrefixes: readonly string[];
  /**
   * Whether /cgi-bin/ goes to the CGI gateway (config cgiEnabled). Absent or false: it is an
   * ordinary path like any other (static, 404 unless such a file exists), so a gateway the
   * operator did not turn on can never run a script (issue 12: cgi-bin/app bypassed APP_TOKEN).
   */
  readonly cgi?: boolean;
}

export const HEALTH_PATHS: readonly string[] = ['/healthz', '/readyz'];
export const CGI_PREFIX = '/cgi-bin/';
/** The operator's endpoints (metrics, status page); never static files, never the app. */
export const OPERATOR_PREFIX = '/-/';

const UNRESERVED = /[A-Za-z0-9\-._~]/;

function reject(code: ErrorCode, reason: string): Rejection {
  return { kind: 'reject', code, reason };
}

/**
 * RFC 3986 §6.2.2.2: percent-encoded unreserved characters are equivalent to the characters
 * themselves, so `/%61pi/` is `/api/`. Only those are decoded; everything else keeps its
 * encoding exactly, hex case included (a `%2f` inside a segment is not a separator for the
 * app's router, and an ordinary target must reach the app byte-identical).
 */
function normalisePercent(path: string): string {
  if (!path.includes('%')) return path;
  return path.replace(/%([0-9A-Fa-f]{2})/g, (whole, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : whole;
  });
}

/** RFC 3986 pchar and "/", without "%": nothing in such a path decodes to anything else. */
const PLAIN_PATH = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;

/** Finds the first reason the path is unsafe to route, or undefined when it is fine. */
function unsafePath(path: string): string | undefined {
  // The common case, cheaply (issue 8): no escapes, and no segment that starts with a dot.
  if (PLAIN_PATH.test(path) && !path.includes('/.')) return undefined;
  if (path.includes('\\')) return 'backslash in path';
  if (/%(?![0-9A-Fa-f]{2})/.test(path)) return 'malformed percent-encoding';
  for (const segment of path.split('/')) {
    let decoded: string;
    try {
      // Throws on invalid UTF-8, overlong forms included (%C0%AE is not ".").
      decoded = decodeURIComponent(segment);
    } catch {
      return 'invalid UTF-8 in path';
    }
    if (decoded.includes('\0')) return 'NUL in path';
    if (decoded.includes('\\')) return 'encoded backslash in path';
    // `..%2f` and `%2e%2e` are dot-segments once any later layer decodes them (RFC 3986 §5.2.4).
    if (decoded.split('/').some((part) => part === '.' || part === '..')) return 'dot-segment in path';
  }
  return undefined;
}

function matchesPrefix(pathname: string, prefix: string): boolean {
  // "/articles" goes to the app too, whose APPEND_SLASH answers 301 to "/articles/".
  return pathname.startsWith(prefix) || pathname === prefix.slice(0, -1);
}

/** Reduces an absolute-form target to origin-form, keeping its authority (RFC 9112 §3.2.2). */
function splitAbsoluteForm(target: string): { authority: string; rest: string } | Rejection {
  const match = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)(.*)$/.exec(target);
  if (match === null) return reject('WEB_ERR_BAD_REQUEST', 'request-target is not origin-form or absolute-form');
  const scheme = target.slice(0, target.indexOf(':')).toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return reject('WEB_ERR_BAD_REQUEST', `absolute-form with scheme ${scheme}`);
  const authority = match[1] ?? '';
  if (authority === '' || authority.includes('@')) return reject('WEB_ERR_BAD_REQUEST', 'absolute-form without a usable authority');
  const rest = match[2] ?? '';
  return { authority, rest: rest === '' || rest.startsWith('?') ? `/${rest}` : rest };
}

/** A request-target split once (RFC 9112 §3.2), not yet judged: the limits read it before classification does. */
export interface Target {
  /** The path as received (still encoded, not yet checked), or "*" for asterisk-form. */
  readonly pathname: string;
  /** "?query" or "". */
  readonly search: string;
  /** The request-target as received, reduced to origin-form when it came in absolute-form. */
  readonly target: string;
  /** From an absolute-form target (RFC 9112 §3.2.2): host[:port] that replaces the Host header. */
  readonly authority?: string;
}

/** Splits the request-target into path, query and the authority of an absolute-form; rejects what is none of the four forms. */
export function parseTarget(rawTarget: string): Target | Rejection {
  // RFC 9112 §3.2.4: asterisk-form; classifyTarget accepts it for OPTIONS only.
  if (rawTarget === '*') return { pathname: '*', search: '', target: '*' };
  let target = rawTarget;
  let authority: string | undefined;
  if (!target.startsWith('/')) {
    const split = splitAbsoluteForm(target);
    if ('kind' in split) return split;
    authority = split.authority;
    target = split.rest;
  }
  if (target.includes('#')) return reject('WEB_ERR_BAD_REQUEST', 'fragment in request-target');
  const queryAt = target.indexOf('?');
  const pathname = queryAt === -1 ? target : target.slice(0, queryAt);
  const search = queryAt === -1 ? '' : target.slice(queryAt);
  if (!pathname.startsWith('/')) return reject('WEB_ERR_BAD_REQUEST', 'path does not start with "/"');
  return authority === undefined ? { pathname, search, target } : { pathname, search, target, authority };
}

/** Judges a parsed target's path and decides its route. */
export function classifyTarget(method: string, parsed: Target, options: ClassifyOptions): Decision {
  const { pathname, search, target, authority } = parsed;
  if (target === '*') {
    return method === 'OPTIONS'
      ? { kind: 'asterisk', pathname: '*', search: '', target: '*' }
      : reject('WEB_ERR_BAD_REQUEST', 'asterisk-form without OPTIONS');
  }
  const unsafe = unsafePath(pathname);
  if (unsafe !== undefined) return reject('WEB_ERR_BAD_REQUEST', unsafe);

  const normal = normalisePercent(pathname);
  const route = (kind: RouteKind): Route =>
    authority === undefined ? { kind, pathname: normal, search, target } : { kind, pathname: normal, search, target, authority };
  if (HEALTH_PATHS.includes(normal)) return route('health');
  if (normal.startsWith(OPERATOR_PREFIX)) return route('operator');
  if (options.cgi === true && (normal.startsWith(CGI_PREFIX) || normal === CGI_PREFIX.slice(0, -1))) return route('cgi');
  if (options.dynamicPrefixes.some((prefix) => matchesPrefix(normal, prefix))) return route('app');
  return route('static');
}

export function classify(method: string, rawTarget: string, options: ClassifyOptions): Decision {
  const parsed = parseTarget(rawTarget);
  return 'kind' in parsed ? parsed : classifyTarget(method, parsed, options);
}
