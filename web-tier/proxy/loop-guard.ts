/**
 * The proxy-loop guard. A web tier whose upstream leads back to itself (its own port in
 * APP_UPSTREAMS or a WEB_ROUTES group, a name that resolves to it, a chain through another proxy
 * that comes back) would proxy every dynamic request to itself again and again until its socket
 * cap and queue give out. Each deployment (a lone process, or a cluster primary and all its
 * workers: cluster.ts) has a random token, carried as the received-by pseudonym of the Via
 * element it appends (RFC 9110 §7.6.3): `1.1 twotier-web-<token>`. A request that arrives with
 * that element has been through this deployment already; it is answered 508 Loop Detected
 * (RFC 5842 §7.2) instead of being proxied again. Another twotier deployment in a chain has a
 * token of its own and passes the request on as usual.
 *
 * A pseudonym, not a comment: RFC 9110 §7.6.3 lets any recipient drop comments before forwarding.
 * The token is no secret: the app sees it (an echo view shows it), and a client that sends it
 * only fails its own request; browsers cannot send Via at all (a forbidden request-header name in
 * Fetch). The web tier never writes it into a response or a log line.
 */
import { randomBytes } from 'node:crypto';
import type { RequestContext } from '../context.js';
import { TwotierError } from '../error-response.js';
import { VIA } from './headers.js';

/** 64 random bits as 16 hex digits: two deployments in one chain never share a token. */
export function createInstanceToken(): string {
  return randomBytes(8).toString('hex');
}

/** What a token looks like, for the one handed to cluster workers (cluster.ts). */
export function isInstanceToken(value: string | undefined): value is string {
  return value !== undefined && /^[0-9a-f]{16}$/.test(value);
}

export interface LoopGuard {
  /** This deployment's Via element, appended to every request it forwards. */
  readonly via: string;
  /** Whether a request's Via (node joins repeated fields with ", ") holds this deployment's element. */
  looped(via: string | undefined): boolean;
}

/** Characters that may follow a pseudonym in a Via element: its end, `:port`, whitespace before a comment. */
const AFTER_PSEUDONYM = new Set([undefined, ',', ' ', '\t', ':', '(']);

export function createLoopGuard(token: string): LoopGuard {
  const via = `${VIA}-${token}`;
  const pseudonym = via.slice(via.indexOf(' ') + 1);
  return {
    via,
    looped(value) {
      if (value === undefined) return false;
      // One indexOf scan, no split or regex: the field is bounded by the header limit (431 above
      // it), and a list of thousands of commas costs no more than its length.
      for (let at = value.indexOf(pseudonym); at !== -1; at = value.indexOf(pseudonym, at + 1)) {
        const before = value[at - 1];
        if ((before === ' ' || before === '\t') && AFTER_PSEUDONYM.has(value[at + pseudonym.length])) return true;
      }
      return false;
    },
  };
}

/** Which setting names the upstreams a loop went through: the warning names it. */
export type UpstreamSetting = { readonly setting: 'APP_UPSTREAMS' } | { readonly setting: 'WEB_ROUTES'; readonly route: string };

export function loopDetected(): TwotierError {
  return new TwotierError('WEB_ERR_LOOP_DETECTED', 'the request came back to the web tier it had passed through');
}

/**
 * The operator's warning: one line naming the setting and its upstreams, then at most one per
 * `everyMs` with the number left out meanwhile (a loop under load, or a client replaying the
 * token, must not double the log's volume).
 */
export function createLoopWarning(where: UpstreamSetting, upstreams: readonly string[], everyMs = 10_000): (ctx: RequestContext) => void {
  const label = where.setting === 'APP_UPSTREAMS' ? 'APP_UPSTREAMS' : `the WEB_ROUTES route ${where.route}`;
  const message = `proxy loop: this request already passed through this web tier (its own Via element came back), answered 508 instead of proxied again; an upstream in ${label} leads back here`;
  let lastAt = -Infinity;
  let suppressed = 0;
  return (ctx) => {
    const now = performance.now();
    if (now - lastAt < everyMs) {
      suppressed += 1;
      return;
    }
    lastAt = now;
    ctx.logger.warn({ code: 'WEB_ERR_LOOP_DETECTED', ...where, upstreams, ...(suppressed === 0 ? {} : { suppressed }) }, message);
    suppressed = 0;
  };
}
