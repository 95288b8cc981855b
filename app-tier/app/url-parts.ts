/**
 * A URL's parts under the names of Python's urllib.parse.urlparse, the chapter's example:
 * scheme, netloc, path, params, query, fragment, and the attributes hostname, port, username,
 * password. The split is RFC 3986 Appendix B's regular expression (what urlparse does too);
 * `params` is the `;…` of the last path segment, as urlparse takes it. `port` is the one given,
 * or the scheme's default for http (80) and https (443), `defaultPort` says which.
 */

export interface UrlParts {
  readonly scheme: string;
  readonly netloc: string;
  readonly hostname: string | null;
  readonly port: number | null;
  /** True when `port` is the scheme's default, not written in the URL. */
  readonly defaultPort: boolean;
  readonly username: string | null;
  readonly password: string | null;
  readonly path: string;
  readonly params: string;
  readonly query: string;
  /** parse_qsl(query, keep_blank_values=True): "+" is a space, %XX decoded, in order, repeats kept. */
  readonly queryPairs: { readonly name: string; readonly value: string }[];
  readonly fragment: string;
}

export class UrlPartsError extends Error {}

const RFC3986_APPENDIX_B = /^(?:([^:/?#]+):)?(?:\/\/([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/s;
const DEFAULT_PORTS: Readonly<Record<string, number>> = { http: 80, https: 443 };

export function urlParts(url: string): UrlParts {
  const found = RFC3986_APPENDIX_B.exec(url);
  if (found === null) throw new UrlPartsError('not a URL');
  const scheme = (found[1] ?? '').toLowerCase();
  const netloc = found[2] ?? '';
  let path = found[3] ?? '';
  let params = '';
  // urlparse: params belong to the last segment only ("/a;x/b;y" → path "/a;x/b", params "y").
  const lastSlash = path.lastIndexOf('/');
  const semicolon = path.indexOf(';', lastSlash + 1);
  if (semicolon !== -1) {
    params = path.slice(semicolon + 1);
    path = path.slice(0, semicolon);
  }
  const at = netloc.lastIndexOf('@');
  const userinfo = at === -1 ? null : netloc.slice(0, at);
  const hostport = at === -1 ? netloc : netloc.slice(at + 1);
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(hostport);
  let host: string;
  let portText: string | undefined;
  if (bracketed !== null) {
    host = bracketed[1] ?? '';
    portText = bracketed[2];
  } else {
    const colon = hostport.lastIndexOf(':');
    host = colon === -1 ? hostport : hostport.slice(0, colon);
    portText = colon === -1 ? undefined : hostport.slice(colon + 1);
  }
  let port: number | null = null;
  if (portText !== undefined && portText !== '') {
    // urlparse raises ValueError for a port that is not 0-65535.
    if (!/^\d+$/.test(portText) || Number(portText) > 65_535) throw new UrlPartsError(`port ${JSON.stringify(portText)} is not a number from 0 to 65535`);
    port = Number(portText);
  }
  const defaultPort = port === null && DEFAULT_PORTS[scheme] !== undefined;
  if (defaultPort) port = DEFAULT_PORTS[scheme] ?? null;
  const colon = userinfo?.indexOf(':') ?? -1;
  const query = found[4] ?? '';
  return {
    scheme,
    netloc,
    hostname: host === '' ? null : host.toLowerCase(),
    port,
    defaultPort,
    username: userinfo === null ? null : colon === -1 ? userinfo : userinfo.slice(0, colon),
    password: userinfo === null || colon === -1 ? null : userinfo.slice(colon + 1),
    path,
    params,
    query,
    queryPairs: [...new URLSearchParams(query)].map(([name, value]) => ({ name, value })),
    fragment: found[5] ?? '',
  };
}
