/**
 * Stage 3, limits: what this server refuses to serve at all, before anything reads the path.
 * The request itself (limits.ts: version, method, target and header sizes, Host, framing, a
 * declared body over the limit), the client's request rate (peer-guard.ts: 429), and an
 * absolute-form target naming another host (421: never an open proxy). A rate-limited client
 * costs no classification, and a malformed target is no way past the rate.
 */
import { HEALTH_PATHS, OPERATOR_PREFIX, type Rejection, type Target } from '../classify.js';
import { sendError, TwotierError } from '../error-response.js';
import { checkRequest, foreignAuthority, hasBody } from '../limits.js';
import type { PeerGuard } from '../peer-guard.js';
import type { LiveConfig } from '../server-live-config.js';
import type { Refusal } from './refusal.js';
import type { Stage } from './exchange.js';

/**
 * Health probes are never rate-limited (a 429 would take this server out of rotation), nor the
 * operator endpoints (WEB_OPERATOR_ALLOW peers only; a scraper must not be told 429). Judged on
 * the path as received: such a path can only be classified health, operator or refused.
 */
function exemptFromRate(target: Target | Rejection): boolean {
  return !('kind' in target) && (HEALTH_PATHS.includes(target.pathname) || target.pathname.startsWith(OPERATOR_PREFIX));
}

export function createLimits(parts: { live: LiveConfig; peerGuard: Pick<PeerGuard, 'retryAfter'>; refusal: Refusal }): Stage {
  const { live, peerGuard, refusal } = parts;
  return function limits({ req, res, ctx, target }) {
    const authority = 'kind' in target ? undefined : target.authority;
    const violation = checkRequest(req, live.limits, authority);
    if (violation !== undefined) {
      ctx.logger.info({ code: violation.code, reason: violation.reason }, 'request refused');
      refusal.refuse(req, res, ctx, new TwotierError(violation.code, violation.reason));
      return true;
    }
    const retryAfter = exemptFromRate(target) ? undefined : peerGuard.retryAfter(req);
    if (retryAfter !== undefined) {
      const limited = new TwotierError('WEB_ERR_TOO_MANY_REQUESTS', 'client over its request rate', { headers: { 'Retry-After': String(retryAfter) } });
      // An unread body leaves the rest of the connection unframed: answer and close (refuse).
      if (hasBody(req)) refusal.refuse(req, res, ctx, limited);
      else sendError(res, ctx, limited);
      return true;
    }
    if (authority !== undefined && !('kind' in target)) {
      if (live.config.server.serverNames.length === 0 && foreignAuthority(authority, req.headers.host, req.socket.localAddress)) {
        ctx.logger.info({ code: 'WEB_ERR_MISDIRECTED', authority }, 'request refused: absolute-form for another host (not an open proxy)');
        sendError(res, ctx, new TwotierError('WEB_ERR_MISDIRECTED', 'absolute-form names another host'));
        return true;
      }
      // RFC 9112 §3.2.2: absolute-form's authority replaces Host. It names this server (checked
      // above); the proxy forwards to configured upstreams only.
      req.headers.host = authority;
      req.url = target.target;
    }
    return false;
  };
}
