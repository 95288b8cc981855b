/**
 * Who the request came from, as the edge tells the app: X-Forwarded-For, RFC 7239 `Forwarded`,
 * the original scheme and X-Real-IP. Taken from the connection, never from an untrusted client;
 * a trusted proxy's own values are kept and appended to. headers.ts writes them into the header
 * section; pure functions, each rule tested on its own (test/web-tier/proxy/headers.test.ts).
 */
import { isIP } from 'node:net';
import { rateClient } from '../peer-limits.js';

/** "::ffff:10.0.0.1" → "10.0.0.1": the same peer written one way, for comparison and display. */
export function normalizeAddress(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped?.[1] ?? address.toLowerCase();
}

/**
 * X-Forwarded-For: the real peer, last. A client's own value is kept (and the peer appended)
 * only when the peer is a trusted proxy; otherwise anyone could claim any address (http-proxy#250).
 */
export function forwardedFor(peer: string, clientValue: string | string[] | undefined, trustedProxies: ReadonlySet<string>): string {
  const previous = Array.isArray(clientValue) ? clientValue.join(', ') : clientValue;
  if (previous !== undefined && previous.trim() !== '' && trustedProxies.has(peer)) return `${previous}, ${peer}`;
  return peer;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** RFC 7239 §4: a value is a token or a quoted-string; an IPv6 node is quoted and bracketed (§6). */
function forwardedParameter(value: string): string {
  if (TOKEN.test(value)) return value;
  return `"${value.replace(/["\\]/g, (char) => `\\${char}`)}"`;
}

export interface EdgeFacts {
  /** The peer address, normalised. */
  readonly peer: string;
  readonly proto: 'http' | 'https';
  readonly host: string | undefined;
  readonly requestId: string;
  /**
   * This hop's Via element: the proxy's carries its deployment's token (loop-guard.ts); absent,
   * the bare `1.1 twotier-web` (embedded and CGI hand the request over without a hop).
   */
  readonly via?: string;
}

/** Recent `Forwarded` values: the same peer, host and proto come back on every request of a connection. */
const forwardedMemo = new Map<string, string>();
const FORWARDED_MEMO_ENTRIES = 1024;

/** RFC 7239 `Forwarded` for this hop: for, host, proto (remembered for the last ~1000 combinations). */
export function forwardedHeader(facts: EdgeFacts): string {
  const key = `${facts.peer} ${facts.host ?? ''} ${facts.proto} ${facts.host === undefined ? 0 : 1}`;
  let value = forwardedMemo.get(key);
  if (value === undefined) {
    value = renderForwarded(facts);
    if (forwardedMemo.size >= FORWARDED_MEMO_ENTRIES) forwardedMemo.clear();
    forwardedMemo.set(key, value);
  }
  return value;
}

function renderForwarded(facts: EdgeFacts): string {
  const node = isIP(facts.peer) === 6 ? `[${facts.peer}]` : facts.peer;
  const parts = [`for=${forwardedParameter(node)}`];
  if (facts.host !== undefined) parts.push(`host=${forwardedParameter(facts.host)}`);
  parts.push(`proto=${facts.proto}`);
  return parts.join(';');
}

/** The first element of a comma-separated value, trimmed and lower-case. */
function firstElement(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const comma = value.indexOf(',');
  return (comma === -1 ? value : value.slice(0, comma)).trim().toLowerCase();
}

const FORWARDED_PROTO = /(?:^|;)\s*proto\s*=\s*"?(https?)"?\s*(?:;|$)/i;

/**
 * The scheme of the original request. From a trusted proxy (WEB_TRUSTED_PROXIES, which may
 * terminate TLS in front of the web tier), the one it reports: its X-Forwarded-Proto, else the
 * proto of the first element of its Forwarded (RFC 7239 §5.4), when that is http or https. From
 * anyone else, the scheme of the connection the request came on: a client cannot claim https.
 */
export function originalProto(facts: EdgeFacts, clientProto: string | undefined, clientForwarded: string | undefined, trustedProxies: ReadonlySet<string>): 'http' | 'https' {
  if (!trustedProxies.has(facts.peer)) return facts.proto;
  const claimed = firstElement(clientProto) ?? FORWARDED_PROTO.exec(firstElement(clientForwarded) ?? '')?.[1]?.toLowerCase();
  return claimed === 'http' || claimed === 'https' ? claimed : facts.proto;
}

/**
 * X-Real-IP: the client's address as the edge knows it, the same one the per-client limits count
 * (peer-limits.ts rateClient). A client's own value is never taken. From a trusted proxy: the last
 * X-Forwarded-For address that is not a trusted proxy (nginx `real_ip_recursive on`), else its
 * X-Real-IP when that is one IP address, else the peer (the proxy's own request).
 */
export function realIp(peer: string, clientRealIp: string | undefined, clientForwardedFor: string | undefined, trustedProxies: ReadonlySet<string>): string {
  if (!trustedProxies.has(peer)) return peer;
  const forwarded = rateClient(peer, clientForwardedFor, trustedProxies);
  if (forwarded !== undefined) return forwarded;
  const claimed = clientRealIp?.trim();
  if (claimed !== undefined && isIP(claimed) !== 0) return normalizeAddress(claimed);
  return peer;
}
