/**
 * The header passes of the proxy, in both directions. Pure functions over header objects, so
 * each rule is tested on its own.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';

/**
 * Hop-by-hop fields (RFC 9110 §7.6.1, plus the legacy Keep-Alive and Proxy-Connection). Trailer
 * is here because the proxy re-frames the body and forwards no trailer section, so announcing
 * one would be false; a client-sent Trailer on a body-less request also makes node's client
 * throw ERR_HTTP_TRAILER_INVALID outside any handler and crash the process (http-proxy#1647).
 */
export const HOP_BY_HOP_FIELDS: readonly string[] = ['connection', 'keep-alive', 'te', 'upgrade', 'proxy-connection', 'transfer-encoding', 'trailer'];

/** Request fields the edge never forwards. */
const DROPPED_REQUEST_FIELDS: ReadonlySet<string> = new Set([
  // httpoxy (CVE-2016-5385): a `Proxy` header becomes HTTP_PROXY in CGI-style environments.
  'proxy',
  // The web tier already answered the 100-continue (RFC 9110 §10.1.1); the app reads the body as it streams.
  'expect',
  // Set below from what the edge saw, never taken from the client (http-proxy#250); Via is appended to.
  'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'x-request-id', 'via',
]);
const DROPPED_CHUNKED_REQUEST_FIELDS: ReadonlySet<string> = new Set([...DROPPED_REQUEST_FIELDS, 'content-length']);

/** The usual Connection values name no field beyond the hop-by-hop ones: nothing to parse. */
const PLAIN_CONNECTION = /^\s*(keep-alive|close)\s*$/i;

/** The field names a Connection header lists (RFC 9110 §7.6.1), lower-case. */
export function connectionOptions(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  if (typeof value === 'string' && PLAIN_CONNECTION.test(value)) return [value.trim().toLowerCase()];
  const joined = Array.isArray(value) ? value.join(',') : value;
  return joined.split(',').map((token) => token.trim().toLowerCase()).filter((token) => token.length > 0);
}

const HOP_BY_HOP = new Set(HOP_BY_HOP_FIELDS);

/** The fields a raw list's Connection header names (RFC 9110 §7.6.1), lower-case; undefined without one. */
function connectionNamed(raw: readonly string[]): Set<string> | undefined {
  let named: Set<string> | undefined;
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index] as string;
    if (name.length === 10 && name.toLowerCase() === 'connection') {
      named ??= new Set();
      for (const option of connectionOptions(raw[index + 1])) named.add(option);
    }
  }
  return named;
}

/**
 * A raw [name, value, …] list (names in their case, repeated fields kept) without hop-by-hop
 * fields, without every field that Connection names, and without `alsoDrop` (lower-case names):
 * the one filter both directions use.
 */
export function withoutHopByHop(raw: readonly string[], alsoDrop?: ReadonlySet<string>): string[] {
  const named = connectionNamed(raw);
  const kept: string[] = [];
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index] as string;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || alsoDrop?.has(lower) === true || named?.has(lower) === true) continue;
    kept.push(name, raw[index + 1] as string);
  }
  return kept;
}

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

/** How the outgoing body is framed. Transfer-Encoding is hop-by-hop, so the proxy chooses it again. */
export type BodyFraming = 'none' | 'length' | 'chunked';

export function bodyFraming(headers: IncomingHttpHeaders): BodyFraming {
  // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length (limits.ts rejects both together).
  if (headers['transfer-encoding'] !== undefined) return 'chunked';
  if (headers['content-length'] !== undefined) return 'length';
  return 'none';
}

export const VIA = '1.1 twotier-web';

/**
 * The request header section sent to the app tier as a header object (the http-proxy engine copies
 * req.headers): buildRequestHeaderList's fields, names lower-case, a repeated field as an array.
 */
export function buildRequestHeaders(incoming: IncomingHttpHeaders, facts: EdgeFacts, trustedProxies: ReadonlySet<string>): IncomingHttpHeaders {
  const raw: string[] = [];
  for (const name in incoming) {
    const value = incoming[name];
    if (Array.isArray(value)) for (const one of value) raw.push(name, one);
    else if (value !== undefined) raw.push(name, value);
  }
  const list = buildRequestHeaderList(raw, facts, trustedProxies);
  const outgoing: Record<string, string | string[]> = {};
  for (let index = 0; index < list.length; index += 2) {
    const name = (list[index] as string).toLowerCase();
    const value = list[index + 1] as string;
    const previous = outgoing[name];
    outgoing[name] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
  }
  return outgoing as IncomingHttpHeaders;
}

/**
 * The same request header section as buildRequestHeaders, as a flat [name, value, …] list read
 * from the raw headers (names keep their case, repeated fields stay repeated): the plain engine
 * hands it to http.request as is, which skips a setHeader and its checks per field (issue 8).
 */
export function buildRequestHeaderList(rawHeaders: readonly string[], facts: EdgeFacts, trustedProxies: ReadonlySet<string>): string[] {
  let chunked = false;
  let clientForwardedFor: string | undefined;
  let clientVia: string | undefined;
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const lower = (rawHeaders[index] as string).toLowerCase();
    const value = rawHeaders[index + 1] as string;
    if (lower === 'transfer-encoding') chunked = true;
    else if (lower === 'x-forwarded-for') clientForwardedFor = clientForwardedFor === undefined ? value : `${clientForwardedFor}, ${value}`;
    else if (lower === 'via') clientVia = clientVia === undefined ? value : `${clientVia}, ${value}`;
  }
  // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length; the body keeps its chunked framing.
  const out = withoutHopByHop(rawHeaders, chunked ? DROPPED_CHUNKED_REQUEST_FIELDS : DROPPED_REQUEST_FIELDS);
  if (chunked) out.push('transfer-encoding', 'chunked');
  out.push('x-forwarded-for', forwardedFor(facts.peer, clientForwardedFor, trustedProxies), 'x-forwarded-proto', facts.proto);
  if (facts.host !== undefined) out.push('x-forwarded-host', facts.host);
  out.push('forwarded', forwardedHeader(facts), 'x-request-id', facts.requestId, 'via', clientVia === undefined ? VIA : `${clientVia}, ${VIA}`);
  return out;
}

/**
 * The response header section sent back to the client, as a flat [name, value, …] list straight
 * from the upstream's raw headers (names keep their case, repeated fields such as Set-Cookie stay
 * separate): node writes a list without a setHeader per field (issue 8). The upstream's own
 * X-Request-Id and X-Served-By are replaced by the edge's.
 */
export function buildResponseHeaders(rawHeaders: readonly string[], requestId: string): string[] {
  const out = withoutHopByHop(rawHeaders, REPLACED_RESPONSE_FIELDS);
  out.push('X-Request-Id', requestId, 'X-Served-By', 'app');
  return out;
}

const REPLACED_RESPONSE_FIELDS: ReadonlySet<string> = new Set(['x-request-id', 'x-served-by']);
