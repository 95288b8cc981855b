/**
 * The header passes of the proxy, in both directions. Pure functions over header objects, so
 * each rule is tested on its own.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { forwardedFor, forwardedHeader, normalizeAddress, originalProto, realIp, type EdgeFacts } from './forwarded.js';
import { framingFields, requestFraming } from './framing.js';

export { bodyFraming, framingFields, requestFraming, type BodyFraming, type RequestFraming } from './framing.js';
export { forwardedFor, forwardedHeader, normalizeAddress, originalProto, realIp, type EdgeFacts } from './forwarded.js';

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
  // RFC 9112 §6: the framing of the forwarded message is the web tier's, written again below from
  // what node's parser validated; the client's own fields never reach the app.
  'content-length', 'transfer-encoding',
  // Set below from what the edge saw, never taken from the client (http-proxy#250); Via is appended to.
  'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'x-request-id', 'via', 'x-real-ip',
]);

/**
 * Fields a client's Connection header may not remove in the request direction: the framing and
 * Host (RFC 9112 §6, §3.2), and every field the edge sets itself. RFC 9110 §7.6.1 lets a sender
 * name fields as hop-by-hop, but a proxy that obeyed `Connection: content-length` would forward
 * the body without its framing and the app would read it as the next request on the pooled
 * connection (issue 12: request smuggling). Such tokens are ignored; the request is served.
 */
const CONNECTION_MAY_NOT_NAME: ReadonlySet<string> = new Set([
  'content-length', 'transfer-encoding', 'host', 'forwarded', 'x-request-id', 'via', 'x-real-ip',
]);

/** Whether a request's Connection may name this (lower-case) field; `x-forwarded-*` never. */
export function connectionMayName(field: string): boolean {
  return !CONNECTION_MAY_NOT_NAME.has(field) && !field.startsWith('x-forwarded-');
}

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

/**
 * The fields a raw list's Connection header names (RFC 9110 §7.6.1), lower-case, without those
 * `mayName` refuses; undefined without one.
 */
function connectionNamed(raw: readonly string[], mayName: ((field: string) => boolean) | undefined): Set<string> | undefined {
  let named: Set<string> | undefined;
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index] as string;
    if (name.length === 10 && name.toLowerCase() === 'connection') {
      named ??= new Set();
      for (const option of connectionOptions(raw[index + 1])) if (mayName === undefined || mayName(option)) named.add(option);
    }
  }
  return named;
}

/**
 * A raw [name, value, …] list (names in their case, repeated fields kept) without hop-by-hop
 * fields, without every field that Connection names (those `mayName` allows, when given), and
 * without `alsoDrop` (lower-case names): the one filter both directions use.
 */
export function withoutHopByHop(raw: readonly string[], alsoDrop?: ReadonlySet<string>, mayName?: (field: string) => boolean): string[] {
  const named = connectionNamed(raw, mayName);
  const kept: string[] = [];
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index] as string;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || alsoDrop?.has(lower) === true || named?.has(lower) === true) continue;
    kept.push(name, raw[index + 1] as string);
  }
  return kept;
}

/** This hop's Via element when it forwards nothing (embedded, CGI); the proxy's adds its token (loop-guard.ts). */
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
 * The client's hop-by-hop fields, framing and edge fields go; the web tier's framing
 * (requestFraming) and edge fields are appended.
 */
export function buildRequestHeaderList(rawHeaders: readonly string[], facts: EdgeFacts, trustedProxies: ReadonlySet<string>): string[] {
  return edgeHeaderList(rawHeaders, facts, trustedProxies, framingFields(requestFraming(rawHeaders)));
}

/**
 * The edge rules without the framing: what the application sees of a request when the web tier
 * hands it over without an HTTP hop, so the three modes see the same fields (issue 12). The CGI
 * gateway turns this list into HTTP_* variables (RFC 3875 §4.1.18; the body's length and type
 * are CONTENT_LENGTH and CONTENT_TYPE there, not header fields).
 */
export function buildEdgeHeaderList(rawHeaders: readonly string[], facts: EdgeFacts, trustedProxies: ReadonlySet<string>): string[] {
  return edgeHeaderList(rawHeaders, facts, trustedProxies, []);
}

/** The edge facts of a request the web tier accepted: the peer, the scheme of its connection, its Host; `via`, this hop's Via element. */
export function edgeFactsOf(req: IncomingMessage, requestId: string, via: string = VIA): EdgeFacts {
  return {
    peer: normalizeAddress(req.socket.remoteAddress),
    proto: (req.socket as Partial<TLSSocket>).encrypted === true ? 'https' : 'http',
    host: req.headers.host,
    requestId,
    via,
  };
}

/** The client's fields minus what the edge drops, then `framing`, then the edge's own fields. */
function edgeHeaderList(rawHeaders: readonly string[], facts: EdgeFacts, trustedProxies: ReadonlySet<string>, framing: readonly string[]): string[] {
  let clientForwardedFor: string | undefined;
  let clientVia: string | undefined;
  let clientProto: string | undefined;
  let clientForwarded: string | undefined;
  let clientRealIp: string | undefined;
  let otherForwardedFields = false;
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const name = rawHeaders[index] as string;
    // Only names that may be an edge field are lower-cased: no string made per field (issue 8).
    const first = name.charCodeAt(0) | 0x20;
    if (first !== 0x78 && first !== 0x76 && first !== 0x66) continue; // x, v, f
    const lower = name.toLowerCase();
    const value = rawHeaders[index + 1] as string;
    if (lower === 'x-forwarded-for') clientForwardedFor = clientForwardedFor === undefined ? value : `${clientForwardedFor}, ${value}`;
    else if (lower === 'via') clientVia = clientVia === undefined ? value : `${clientVia}, ${value}`;
    else if (lower === 'x-forwarded-proto') clientProto = clientProto === undefined ? value : `${clientProto}, ${value}`;
    else if (lower === 'forwarded') clientForwarded = clientForwarded === undefined ? value : `${clientForwarded}, ${value}`;
    else if (lower === 'x-real-ip') clientRealIp = clientRealIp === undefined ? value : `${clientRealIp}, ${value}`;
    else if (lower.startsWith('x-forwarded-')) otherForwardedFields = true;
  }
  const trusted = trustedProxies.has(facts.peer);
  let out = withoutHopByHop(rawHeaders, DROPPED_REQUEST_FIELDS, connectionMayName);
  // X-Forwarded-Port, -Prefix, -Ssl, -Scheme…: frameworks read them as the edge's word; only a
  // trusted proxy may say them.
  if (otherForwardedFields && !trusted) out = withoutPrefixed(out, 'x-forwarded-');
  out.push(...framing);
  const proto = originalProto(facts, clientProto, clientForwarded, trustedProxies);
  const forwarded = forwardedHeader(proto === facts.proto ? facts : { ...facts, proto });
  out.push('x-forwarded-for', forwardedFor(facts.peer, clientForwardedFor, trustedProxies), 'x-forwarded-proto', proto);
  if (facts.host !== undefined) out.push('x-forwarded-host', facts.host);
  out.push(
    // RFC 7239 §4: a trusted proxy's elements are kept, this hop's appended (like X-Forwarded-For).
    'forwarded', trusted && clientForwarded !== undefined && clientForwarded.trim() !== '' ? `${clientForwarded}, ${forwarded}` : forwarded,
    'x-real-ip', realIp(facts.peer, clientRealIp, clientForwardedFor, trustedProxies),
    'x-request-id', facts.requestId,
    'via', clientVia === undefined ? facts.via ?? VIA : `${clientVia}, ${facts.via ?? VIA}`,
  );
  return out;
}

/** `list` without the fields whose lower-case name starts with `prefix`. */
function withoutPrefixed(list: readonly string[], prefix: string): string[] {
  const kept: string[] = [];
  for (let index = 0; index < list.length; index += 2) {
    const name = list[index] as string;
    if (!name.toLowerCase().startsWith(prefix)) kept.push(name, list[index + 1] as string);
  }
  return kept;
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
