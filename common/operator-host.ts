/**
 * Which `Host` the operator endpoints of both tiers answer (issue 12 item 5, DNS rebinding).
 *
 * A page on a name the attacker controls (attacker.example, re-pointed at 127.0.0.1 once the
 * page has loaded) makes the browser on this box send same-origin requests to the operator
 * endpoints from loopback, so the peer allow-list passes them. The browser still sends the
 * attacker's name as Host: that is the tell (RFC 9110 §7.2: Host names the origin the client
 * meant). Accepted, anything else is refused:
 *   - a loopback name: `localhost` and names under `.localhost` (RFC 6761 §6.3: they resolve to
 *     loopback and are never delegated, so no attacker can point them anywhere else);
 *   - an IP literal, IPv4 dotted-decimal or bracketed IPv6, loopback or not: DNS rebinding
 *     needs a name to re-point; a literal is never resolved (WHATWG URL host parser), so a
 *     browser sends Host 10.0.0.5 only to 10.0.0.5 itself, and the page's origin is then this
 *     server. webpack-dev-server's allowedHosts "auto" makes the same three exceptions
 *     (IP literal, localhost, *.localhost). This is also what lets the web tier read a
 *     remote app box's /-/workers by its upstream address with no extra setting;
 *   - a configured operator name (WEB_OPERATOR_HOSTS / APP_OPERATOR_HOSTS), for an operator who
 *     reaches the endpoints by a name of their own (a DNS name they control, an SSH alias).
 * Ports are ignored, names compare case-insensitively (RFC 3986 §3.2.2) and without one trailing
 * dot (an absolute name). No Host at all (HTTP/1.0) is refused: it names no origin to check.
 * Non-browser clients can send any Host; they are the peer allow-list's business, not this one's.
 */
import { isIP } from 'node:net';

/** A host name or IP literal as an operator-hosts entry: no port, no scheme, no wildcard. */
export const OPERATOR_HOST_ENTRY = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$|^\[[0-9A-Fa-f:.]+\]$/;

/** `host[:port]` → the host part, lower-case, without one trailing dot; undefined when malformed. */
function hostPart(value: string): string | undefined {
  const match = /^(\[[^\]]*\]|[^:[\]]*)(?::\d{0,5})?$/.exec(value.trim());
  const host = match?.[1]?.toLowerCase();
  if (host === undefined || host === '') return undefined;
  return host.endsWith('.') && !host.startsWith('[') ? host.slice(0, -1) : host;
}

function isIpLiteral(host: string): boolean {
  if (host.startsWith('[')) return isIP(host.slice(1, -1)) === 6;
  return isIP(host) === 4;
}

function isLoopbackName(host: string): boolean {
  return /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*localhost$/.test(host);
}

/** A predicate over the request's Host field (node's `req.headers.host`). */
export function createOperatorHostCheck(names: readonly string[]): (host: string | undefined) => boolean {
  const configured = new Set(names.map((name) => hostPart(name)).filter((name): name is string => name !== undefined));
  return (host) => {
    if (host === undefined) return false;
    const name = hostPart(host);
    if (name === undefined) return false;
    return isIpLiteral(name) || isLoopbackName(name) || configured.has(name);
  };
}

/** The rule with no configured names. */
export const isOperatorHost: (host: string | undefined) => boolean = createOperatorHostCheck([]);
