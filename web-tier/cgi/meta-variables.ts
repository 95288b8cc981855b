/**
 * The CGI meta-variables (RFC 3875 §4.1) and the whole environment a script gets. The child sees
 * only these, a safe PATH and what the gateway's own config gives it (passEnv for every script,
 * scriptEnv for one named script: DATABASE_URL and APP_TOKEN go to cgi-bin/app alone): never the
 * web tier's own environment, so secrets held by the server do not leak into other scripts. No
 * request field can set a variable outside HTTP_*, so a client cannot forge APP_TOKEN.
 *
 * The HTTP_* variables come from the request's fields after the proxy's edge rules
 * (proxy/headers.ts buildEdgeHeaderList), for every script: the gateway is the edge, so a script
 * sees X-Forwarded-For, X-Forwarded-Proto, X-Real-IP, Forwarded, Via and X-Request-Id exactly as
 * the app tier sees them behind the proxy, never the client's own claims (issue 12).
 */
import type { IncomingMessage } from 'node:http';
import { posix, join } from 'node:path';
import { joinHeaderLines } from '../../common/app-interface.js';
import { buildEdgeHeaderList, edgeFactsOf } from '../proxy/headers.js';

/** The PATH every script gets unless the operator's passEnv names another one. */
export const SAFE_PATH = '/usr/local/bin:/usr/bin:/bin';

/**
 * Request fields never turned into HTTP_* variables, besides what the edge rules already drop
 * (hop-by-hop fields and those Connection names, RFC 9110 §7.6.1; `Proxy`, httpoxy
 * CVE-2016-5385; the framing):
 * - Content-Type has its own variable (RFC 3875 §4.1.18);
 * - HTTP2-Settings belongs to an h2c upgrade (RFC 7540 §3.2.1), which the gateway does not do.
 */
const NOT_PASSED = new Set(['content-length', 'content-type', 'http2-settings']);

/**
 * Host = uri-host [ ":" port ] (RFC 9110 §7.2), restricted to what can safely be a server name:
 * a reg-name of letters, digits, dots and hyphens, or an IP literal.
 */
const HOST_HEADER = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(?::\d{1,5})?$/;

/** SERVER_NAME (RFC 3875 §4.1.14): the Host header's host when it is valid, else the local address. */
export function serverName(host: string | undefined, localAddress: string | undefined): string {
  const match = host === undefined ? null : HOST_HEADER.exec(host.trim());
  if (match?.[1] !== undefined) return match[1].toLowerCase();
  const address = localAddress ?? '';
  // server-name = hostname | ipv4-address | ( "[" ipv6-address "]" )
  return address.includes(':') ? `[${address}]` : address;
}

/** `X-Forwarded-For` → HTTP_X_FORWARDED_FOR (RFC 3875 §4.1.18). */
export function headerVariableName(field: string): string {
  return `HTTP_${field.toUpperCase().replace(/-/g, '_')}`;
}

export interface MetaVariableInput {
  readonly req: IncomingMessage;
  /** The method the script sees: the request's, or GET after a local redirect (RFC 3875 §6.2.2). */
  readonly method: string;
  readonly scriptName: string;
  /** Decoded, "" or "/…". */
  readonly pathInfo: string;
  /** The raw query without "?" ("" when there is none). */
  readonly query: string;
  /** The raw request-target this run answers (Apache's REQUEST_URI): lets the app see the exact bytes. */
  readonly requestUri: string;
  /** Length of the body on stdin, or undefined when the request has no body. */
  readonly contentLength: number | undefined;
  readonly documentRoot: string;
  readonly serverSoftware: string;
  readonly requestId: string;
  /** WEB_TRUSTED_PROXIES, normalised (headers.ts normalizeAddress): whose forwarded chain and proto are kept. */
  readonly trustedProxies: ReadonlySet<string>;
}

/** The meta-variables for one run. */
export function buildMetaVariables(input: MetaVariableInput): Record<string, string> {
  const { req } = input;
  const socket = req.socket;
  const remoteAddress = socket.remoteAddress ?? '';
  const env: Record<string, string> = {
    GATEWAY_INTERFACE: 'CGI/1.1',
    REQUEST_METHOD: input.method,
    SCRIPT_NAME: input.scriptName,
    PATH_INFO: input.pathInfo,
    // RFC 3875 §4.1.7: defined, and empty, when the URI has no query.
    QUERY_STRING: input.query,
    REQUEST_URI: input.requestUri,
    SERVER_NAME: serverName(req.headers.host, socket.localAddress),
    SERVER_ADDR: socket.localAddress ?? '',
    SERVER_PORT: String(socket.localPort ?? ''),
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
    SERVER_SOFTWARE: input.serverSoftware,
    REMOTE_ADDR: remoteAddress,
    // RFC 3875 §4.1.9: the address may stand in for the host name; no reverse DNS per request.
    REMOTE_HOST: remoteAddress,
    REMOTE_PORT: String(socket.remotePort ?? ''),
  };
  if (input.pathInfo !== '') {
    // RFC 3875 §4.1.6: PATH_INFO mapped into the document root. Normalised as a rooted path first so
    // `/../..` cannot climb out of the root (the script may still not trust it: §4.1.6 says so).
    env['PATH_TRANSLATED'] = join(input.documentRoot, posix.normalize(input.pathInfo));
  }
  // RFC 3875 §4.1.2: set if and only if the request carries a body.
  if (input.contentLength !== undefined) env['CONTENT_LENGTH'] = String(input.contentLength);
  const contentType = req.headers['content-type'];
  // RFC 3875 §4.1.3: the type of the body on stdin, so only when there is one.
  if (contentType !== undefined && input.contentLength !== undefined) env['CONTENT_TYPE'] = contentType;
  const authorization = req.headers.authorization;
  if (authorization !== undefined) {
    const scheme = /^([A-Za-z0-9!#$%&'*+.^_`|~-]+)/.exec(authorization)?.[1];
    if (scheme !== undefined) env['AUTH_TYPE'] = scheme;
  }

  const edge = buildEdgeHeaderList(req.rawHeaders, edgeFactsOf(req, input.requestId), input.trustedProxies);
  const lines: [string, string][] = [];
  for (let index = 0; index < edge.length; index += 2) lines.push([edge[index] as string, edge[index + 1] as string]);
  for (const [field, value] of Object.entries(joinHeaderLines(lines))) {
    if (NOT_PASSED.has(field)) continue;
    // X-Foo_Bar and X-Foo-Bar would both become HTTP_X_FOO_BAR; nginx (underscores_in_headers off)
    // and Apache 2.4 drop names with underscores so one cannot spoof the other.
    if (field.includes('_')) continue;
    // Authorization is passed on purpose (Apache's CGIPassAuth On): the application authenticates
    // its own writes (Bearer tokens), so it must see the credentials the client sent.
    env[headerVariableName(field)] = value;
  }
  return env;
}

/** The whole child environment: safe PATH, then the config's variables, then the meta-variables (which those cannot forge). */
export function buildChildEnv(meta: Readonly<Record<string, string>>, passEnv: Readonly<Record<string, string>>): Record<string, string> {
  return { PATH: SAFE_PATH, ...passEnv, ...meta };
}
