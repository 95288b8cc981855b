/**
 * Request checks that run before any handler. Node's parser (llhttp, strict mode) already
 * rejects most framing attacks on its own: CL + TE together, duplicate or list-valued or
 * invalid Content-Length, a Transfer-Encoding whose final coding is not chunked, obs-fold,
 * bad header tokens, bare CR/LF, bad or overflowing chunk sizes. Those surface as
 * `clientError` and are answered by parser-errors.ts with the status `clientErrorStatus`
 * names. What it lets through, and is checked here on the parsed request, is listed in
 * `checkRequest`.
 */
import type { IncomingMessage } from 'node:http';
import type { ErrorCode } from '../common/errors.js';
import type { LimitsConfig } from './limits-config.js';
import type { ServerConfig } from './server-config.js';

/** The limits section, with the server's Host names and keep-alive timeout: what node and checkRequest enforce. */
export type LimitOptions = Omit<LimitsConfig, 'peer' | 'websocket' | 'lingeringTimeMs' | 'lingeringTimeoutMs' | 'lingeringMaxBytes'> & Pick<ServerConfig, 'keepAliveTimeoutMs'> & Partial<Pick<ServerConfig, 'serverNames'>>;

export interface Violation {
  readonly code: ErrorCode;
  /** For the log only. */
  readonly reason: string;
}

/** node:http server options that enforce what node can enforce itself. */
export function serverOptions(options: LimitOptions) {
  return {
    // Node counts the request line and the header section together against maxHeaderSize;
    // give it room for both and tell 414 from 431 ourselves (checkRequest, clientErrorStatus).
    maxHeaderSize: options.maxUrlBytes + options.maxHeaderBytes + 64,
    // Checked in checkRequest so the 400 carries our error body and X-Served-By.
    requireHostHeader: false,
    insecureHTTPParser: false,
    headersTimeout: options.headersTimeoutMs,
    requestTimeout: options.requestTimeoutMs,
    keepAliveTimeout: options.keepAliveTimeoutMs,
    connectionsCheckingInterval: checkingIntervalMs(options.headersTimeoutMs),
  } as const;
}

/**
 * Node looks for expired headersTimeout/requestTimeout only every `connectionsCheckingInterval`
 * ms (default 30 s: https://nodejs.org/docs/latest-v20.x/api/http.html#httpcreateserveroptions-requestlistener),
 * so a slowloris connection lives up to that long past headersTimeout. A quarter of the
 * timeout, at most 250 ms, keeps the cut within a second of the timeout even when a busy
 * event loop runs the check late; the check walks only connections with a request in progress.
 */
export function checkingIntervalMs(headersTimeoutMs: number): number {
  return Math.max(50, Math.min(250, Math.floor(headersTimeoutMs / 4)));
}

/**
 * node:http's maxHeadersCount (default 2000) keeps the first N fields and drops the rest
 * silently. One more than the limit is kept, so `checkRequest` sees that there were too many.
 */
export function maxHeadersCountFor(options: Pick<LimitOptions, 'maxHeaderFields'>): number {
  return options.maxHeaderFields + 1;
}

// RFC 3986 §3.2.2 host (IP-literal | IPv4 | reg-name) and an optional port.
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|\[v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::\d{0,5})?$/;

/** Host values already found valid: the same few arrive on every request (bounded; invalid ones are never kept). */
const validHosts = new Set<string>();
const VALID_HOSTS_KEPT = 256;

export function isValidHost(value: string): boolean {
  if (validHosts.has(value)) return true;
  if (!HOST.test(value)) return false;
  const port = /:(\d+)$/.exec(value.startsWith('[') ? value.slice(value.indexOf(']')) : value);
  const valid = port === null || Number(port[1]) <= 65535;
  if (valid) {
    if (validHosts.size >= VALID_HOSTS_KEPT) validHosts.clear();
    validHosts.add(value);
  }
  return valid;
}

/** The host part of host[:port], lower-case (names are case-insensitive, RFC 3986 §3.2.2). */
export function hostName(value: string): string {
  const name = value.startsWith('[') ? value.slice(0, value.indexOf(']') + 1) : value.replace(/:\d*$/, '');
  return name.toLowerCase();
}

function countHeader(rawHeaders: readonly string[], name: string): number {
  let count = 0;
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const field = rawHeaders[index] as string;
    // Lower-cased only when the length matches: no string made per field (issue 8).
    if (field.length === name.length && field.toLowerCase() === name) count += 1;
  }
  return count;
}

function headerBytes(rawHeaders: readonly string[]): number {
  let bytes = 0;
  // name ": " value CRLF
  // node's parser hands header bytes over as latin1 strings: one character per byte.
  for (const part of rawHeaders) bytes += part.length + 2;
  return bytes;
}

/**
 * What node's parser accepts but this server must not. Returns the first violation; the
 * server answers it and closes the connection (what follows on the socket cannot be trusted).
 */
export function checkRequest(req: IncomingMessage, options: LimitOptions, authority?: string): Violation | undefined {
  if (req.httpVersionMajor !== 1) {
    // Node answers "GET /" (HTTP/0.9) and "HTTP/2.0" lines as if they were HTTP/1.x. HTTP/0.9
    // has no version to refuse (400); a newer major version is 505 (RFC 9110 §15.6.6).
    return req.httpVersionMajor > 1
      ? { code: 'WEB_ERR_HTTP_VERSION', reason: `HTTP version ${req.httpVersion}` }
      : { code: 'WEB_ERR_BAD_REQUEST', reason: `HTTP version ${req.httpVersion}` };
  }
  if (req.method === 'TRACE' || req.method === 'CONNECT') {
    // TRACE reflects credentials back (cross-site tracing); this server tunnels nothing.
    return { code: 'WEB_ERR_NOT_IMPLEMENTED', reason: `method ${req.method ?? ''}` };
  }
  if ((req.url ?? '').length > options.maxUrlBytes) return { code: 'WEB_ERR_URI_TOO_LONG', reason: 'request-target too long' };
  if (headerBytes(req.rawHeaders) > options.maxHeaderBytes) return { code: 'WEB_ERR_HEADERS_TOO_LARGE', reason: 'header section too large' };
  // Refused, never truncated: the app must not see a partial header set (RFC 9110 §15.5.32 431).
  if (req.rawHeaders.length / 2 > options.maxHeaderFields) return { code: 'WEB_ERR_HEADERS_TOO_LARGE', reason: 'too many header fields' };

  // RFC 9112 §3.2: exactly one Host in HTTP/1.1; node keeps the first of several silently.
  const hosts = countHeader(req.rawHeaders, 'host');
  if (hosts > 1) return { code: 'WEB_ERR_BAD_REQUEST', reason: 'duplicate Host' };
  const host = req.headers.host;
  if (hosts === 0 && req.httpVersionMinor >= 1 && authority === undefined) return { code: 'WEB_ERR_BAD_REQUEST', reason: 'missing Host' };
  if (host !== undefined && !isValidHost(host)) return { code: 'WEB_ERR_BAD_REQUEST', reason: 'invalid Host' };
  if (authority !== undefined && !isValidHost(authority)) return { code: 'WEB_ERR_BAD_REQUEST', reason: 'invalid authority' };
  const names = options.serverNames ?? [];
  const named = authority ?? host;
  if (names.length > 0 && named !== undefined && !names.some((name) => name.toLowerCase() === hostName(named))) {
    // RFC 9110 §15.5.20: a request for a name this server does not serve is misdirected.
    return { code: 'WEB_ERR_MISDIRECTED', reason: 'Host is not one of serverNames' };
  }

  const transferEncoding = req.headers['transfer-encoding'];
  if (transferEncoding !== undefined) {
    // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means the framing is faulty;
    // node would decode it as chunked while a 1.0 intermediary uses the connection close.
    if (req.httpVersionMinor === 0) return { code: 'WEB_ERR_BAD_REQUEST', reason: 'Transfer-Encoding in HTTP/1.0' };
    const codings = transferEncoding.split(',').map((coding) => coding.trim().toLowerCase());
    // RFC 9112 §7: chunked must not be applied more than once.
    if (codings.filter((coding) => coding === 'chunked').length > 1) return { code: 'WEB_ERR_BAD_REQUEST', reason: 'chunked applied twice' };
    // RFC 9112 §6.3: chunked not final → the body length cannot be determined → 400 and close.
    if (codings[codings.length - 1] !== 'chunked') return { code: 'WEB_ERR_BAD_REQUEST', reason: 'chunked is not the final transfer coding' };
    // RFC 9112 §6.1: a coding we do not implement → 501.
    if (codings.some((coding) => coding !== 'chunked')) return { code: 'WEB_ERR_NOT_IMPLEMENTED', reason: `transfer coding ${transferEncoding}` };
  }
  const contentLength = req.headers['content-length'];
  if (contentLength !== undefined && Number(contentLength) > options.maxBodyBytes) {
    // Refused before a byte of the body is read (and before 100 Continue is sent).
    return { code: 'WEB_ERR_BODY_TOO_LARGE', reason: `Content-Length ${contentLength} over ${options.maxBodyBytes}` };
  }
  return undefined;
}

/** True when the request carries a body (so a handler that ignores it should not keep the connection). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

export interface ClientErrorLike extends Error {
  code?: string;
  rawPacket?: Buffer;
  /** Where in rawPacket the parser stopped. */
  bytesParsed?: number;
}

/** RFC 9110 §5.6.2 token (tchar+), the grammar of a method. */
const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
/** RFC 9112 §3: request-line = method SP request-target SP HTTP-version (CR before LF). */
const REQUEST_LINE = new RegExp(`^${TOKEN} [^\\s]+ HTTP/\\d\\.\\d\\r?$`);
/** A line cut off by the end of the packet: judged by its method, the part the parser failed in. */
const PARTIAL_LINE = new RegExp(`^${TOKEN}(?: [^\\r\\n]*)?$`);

/**
 * RFC 9112 §3: 501 only for a request line that matches the grammar with a method this server
 * does not implement; anything else is 400. The failing line starts after the last LF before
 * the error offset (the packet may hold requests already answered; a method has no LF in it).
 * Without the packet there is nothing to judge: 501, as before.
 */
function isWellFormedRequestLine(error: ClientErrorLike): boolean {
  const packet = error.rawPacket;
  if (packet === undefined) return true;
  const at = Math.min(error.bytesParsed ?? 0, packet.length);
  const start = at === 0 ? 0 : packet.lastIndexOf(0x0a, at - 1) + 1;
  const end = packet.indexOf(0x0a, start);
  const line = packet.toString('latin1', start, end === -1 ? packet.length : end);
  return end === -1 ? PARTIAL_LINE.test(line) : REQUEST_LINE.test(line);
}

/** Maps a node parser error to the status that names it; undefined = just drop the socket. */
export function clientErrorStatus(error: ClientErrorLike, options: Pick<LimitOptions, 'maxUrlBytes'>): { status: number; code: string } | undefined {
  switch (error.code) {
    case 'ECONNRESET':
    case 'EPIPE':
      return undefined;
    case 'HPE_HEADER_OVERFLOW': {
      // The request line is in the overflowing packet when the target alone is too long.
      const packet = error.rawPacket?.toString('latin1') ?? '';
      const lineEnd = packet.indexOf('\n');
      const line = lineEnd === -1 ? packet : packet.slice(0, lineEnd);
      return line.length > options.maxUrlBytes || (lineEnd === -1 && packet.length > 0)
        ? { status: 414, code: 'WEB_ERR_URI_TOO_LONG' }
        : { status: 431, code: 'WEB_ERR_HEADERS_TOO_LARGE' };
    }
    case 'HPE_INVALID_METHOD':
      // llhttp says this both for an unknown method and for bytes that are no request line.
      return isWellFormedRequestLine(error)
        ? { status: 501, code: 'WEB_ERR_NOT_IMPLEMENTED' }
        : { status: 400, code: 'WEB_ERR_BAD_REQUEST' };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 413, code: 'WEB_ERR_BODY_TOO_LARGE' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'HPE_HEADERS_TIMEOUT':
      return { status: 408, code: 'WEB_ERR_REQUEST_TIMEOUT' };
    default:
      return { status: 400, code: 'WEB_ERR_BAD_REQUEST' };
  }
}

/**
 * Never an open proxy: an absolute-form target (RFC 9112 §3.2.2) may only name this server.
 * With server names configured checkRequest already holds it to them; without, the authority
 * must name the same host as the Host header, or the address the client connected to.
 */
export function foreignAuthority(authority: string, host: string | undefined, localAddress: string | undefined): boolean {
  const named = hostName(authority);
  if (host !== undefined && isValidHost(host) && hostName(host) === named) return false;
  const local = (localAddress ?? '').replace(/^::ffff:/, '');
  return !(named === local || named === `[${local}]`);
}
