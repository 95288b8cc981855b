/**
 * The pipeline stage that makes the two listeners differ, and nothing else does (issue 15):
 * over TLS, Strict-Transport-Security when WEB_HSTS_MAX_AGE is set (RFC 6797 §7.2: never over
 * plain HTTP, where it would be ignored and an attacker could strip it anyway); over plain HTTP
 * with TLS on, a redirect to https. Every other stage and handler is the same on both.
 *
 * Redirect rules: GET and HEAD get 301; every other method 308 (RFC 9110 §15.4.9: the method and
 * body are kept, where a 301 lets clients turn a POST into a GET, as nginx's bare `return 301`
 * does). The Location keeps path and query; its host is the configured server name the request's
 * Host matches, else the first configured name, else `localhost` — never the Host as sent (an
 * unvalidated Host in a Location is an open redirect / cache-poisoning lever). Not redirected:
 * `/.well-known/acme-challenge/` (RFC 8555 §8.3: HTTP-01 is validated over plain HTTP on port
 * 80), the health probes (`/healthz`, `/readyz`: load balancers probe the plain port) and the
 * operator paths `/-/` (loopback peers only; `npm run reload` posts there).
 *
 * With `WEB_TLS=acme` the challenge path is answered here, on both listeners and before any
 * redirect, from the pending orders' tokens only (acme-challenges.ts); in the other modes it goes
 * on to the static files or the app as before (a webroot an outside ACME client writes to).
 */
import type { TLSSocket } from 'node:tls';
import { HEALTH_PATHS, OPERATOR_PREFIX } from '../classify.js';
import { hasBody } from '../limits.js';
import type { LiveConfig } from '../server-live-config.js';
import type { Stage } from '../pipeline/exchange.js';
import { ACME_CHALLENGE_PREFIX, answerChallenge, type AcmeChallenges } from './acme-challenges.js';

export { ACME_CHALLENGE_PREFIX } from './acme-challenges.js';

/** Paths the plain listener serves itself even when it redirects everything else. */
export function exemptFromRedirect(pathname: string): boolean {
  return pathname.startsWith(ACME_CHALLENGE_PREFIX) || HEALTH_PATHS.includes(pathname) || pathname.startsWith(OPERATOR_PREFIX);
}

/** The host for a Location: a configured name only. `hostHeader` may carry a port; names compare case-insensitively. */
export function redirectHost(serverNames: readonly string[], hostHeader: string | undefined): string {
  const sent = (hostHeader ?? '').replace(/:\d*$/, '').toLowerCase();
  const match = serverNames.find((name) => name.toLowerCase() === sent);
  return match ?? serverNames[0] ?? 'localhost';
}

export function httpsLocation(host: string, port: number, pathAndQuery: string): string {
  const authority = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `https://${authority}${port === 443 ? '' : `:${port}`}${pathAndQuery}`;
}

export function createTlsEdge(live: LiveConfig, httpsPort: () => number | undefined, acmeChallenges?: AcmeChallenges): Stage {
  return function tlsEdge({ req, res, target }) {
    const tls = live.config.tls;
    if (tls.mode === 'off') return false;
    if (tls.mode === 'acme' && acmeChallenges !== undefined && !('kind' in target) && target.pathname.startsWith(ACME_CHALLENGE_PREFIX)) {
      answerChallenge(acmeChallenges, req, res, target.pathname);
      return true;
    }
    if ((req.socket as Partial<TLSSocket>).encrypted === true) {
      if (tls.hstsMaxAgeSec > 0) res.setHeader('Strict-Transport-Security', `max-age=${tls.hstsMaxAgeSec}`);
      return false;
    }
    const port = httpsPort();
    if (!tls.redirect || port === undefined || 'kind' in target || target.pathname === '*' || exemptFromRedirect(target.pathname)) return false;
    const method = req.method ?? 'GET';
    const status = method === 'GET' || method === 'HEAD' ? 301 : 308;
    const location = httpsLocation(redirectHost(live.config.server.serverNames, target.authority ?? req.headers.host), port, target.target);
    const body = `Moved to ${location}\n`;
    // The body of a redirected POST is not read: close after the answer (the connection stage has set lingering).
    if (hasBody(req)) res.setHeader('Connection', 'close');
    res.writeHead(status, { Location: location, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
    res.end(method === 'HEAD' ? undefined : body);
    return true;
  };
}
