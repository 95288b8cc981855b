/**
 * The start-up half of the proxy-loop guard (the runtime half is loop-guard.ts): an upstream in
 * APP_UPSTREAMS or a WEB_ROUTES group that names this web tier's own listener would have every
 * dynamic request proxied back to the web tier itself. Caught here, it is exit 1 (and a rejected
 * reload) with one line naming the variable and the value, before anything loops.
 *
 * Only what is certain from the config alone: the port must be WEB_PORT or WEB_TLS_PORT (not 0:
 * an ephemeral port is known only once listening), and the host an address that reaches the
 * listener: WEB_HOST itself, or, when the listener is on a loopback or unspecified address,
 * loopback (127.0.0.0/8, ::1, localhost) and unspecified (0.0.0.0, ::) ones. Any other host, even
 * on the same port, may be another box; a name that resolves to this one is left to the Via check.
 */
import { BlockList, isIP } from 'node:net';

/** What the check reads of the composed config (web-tier/config.ts). */
export interface SelfUpstreamInput {
  readonly server: { readonly host: string; readonly port: number; readonly dynamic: string };
  readonly tls: { readonly mode: string; readonly port: number };
  readonly proxy: { readonly upstreams: readonly string[] };
  readonly routes: readonly { readonly prefix: string; readonly upstreams: readonly string[] }[];
}

/** How the upstreams were given: the environment variable's name, or the config file's key. */
export interface SelfUpstreamKeys {
  readonly upstreams: 'APP_UPSTREAMS' | 'proxy.upstreams';
  readonly routes: 'WEB_ROUTES' | 'routes';
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

const family = (address: string): 'ipv4' | 'ipv6' => (isIP(address) === 6 ? 'ipv6' : 'ipv4');

/** A host as a URL writes it: lower-case, IPv4 in dotted form, IPv6 compressed and unbracketed, no trailing dot. */
function canonicalHost(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  try {
    return new URL(`http://${isIP(bare) === 6 ? `[${bare}]` : bare}/`).hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  } catch {
    return bare.toLowerCase();
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || (isIP(host) !== 0 && LOOPBACK.check(host, family(host)));
}

function isUnspecified(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

/** The same address, an IPv4-mapped IPv6 one included (::ffff:127.0.0.1 is 127.0.0.1). */
function sameAddress(a: string, b: string): boolean {
  if (a === b) return true;
  if (isIP(a) === 0 || isIP(b) === 0) return false;
  const one = new BlockList();
  one.addAddress(a, family(a));
  return one.check(b, family(b));
}

/** Whether a connection to `target` reaches a listener bound to `listener` (both canonical). */
function reachesListener(target: string, listener: string): boolean {
  if (isUnspecified(listener)) return isLoopback(target) || isUnspecified(target);
  if (isLoopback(listener)) return sameAddress(target, listener) || isUnspecified(target) || target === 'localhost' || (listener === 'localhost' && isLoopback(target));
  return sameAddress(target, listener);
}

/** `url` names one of the listener's ports on an address that reaches it: which port variable, or undefined. */
function selfPort(url: string, host: string, ports: readonly { readonly name: string; readonly port: number }[]): { name: string; port: number } | undefined {
  const parsed = new URL(url);
  const port = parsed.port === '' ? (parsed.protocol === 'https:' ? 443 : 80) : Number(parsed.port);
  const named = ports.find((listening) => listening.port === port);
  if (named === undefined || !reachesListener(canonicalHost(parsed.hostname), host)) return undefined;
  return named;
}

/** The first upstream that is this web tier's own listener, as the key to name and a one-line message; undefined when none is. */
export function checkSelfUpstreams(config: SelfUpstreamInput, keys: SelfUpstreamKeys): { key: string; message: string } | undefined {
  // Embedded and CGI modes proxy nothing: the unused default APP_UPSTREAMS may share WEB_PORT.
  if (config.server.dynamic !== 'proxy') return undefined;
  const ports: { name: string; port: number }[] = [];
  if (config.server.port !== 0) ports.push({ name: 'WEB_PORT', port: config.server.port });
  if (config.tls.mode !== 'off' && config.tls.port !== 0) ports.push({ name: 'WEB_TLS_PORT', port: config.tls.port });
  if (ports.length === 0) return undefined;
  const host = canonicalHost(config.server.host);
  const problem = (key: string, path: string, url: string, port: { name: string; port: number }, route = ''): { key: string; message: string } => ({
    key,
    message: `${key} (${path}): ${route}must not be this web tier's own listener (WEB_HOST ${config.server.host}, ${port.name} ${port.port}): every dynamic request would be proxied back to the web tier itself, a loop; name the app tier's address, got ${JSON.stringify(url)}`,
  });
  for (const [index, url] of config.proxy.upstreams.entries()) {
    const port = selfPort(url, host, ports);
    if (port !== undefined) return problem(keys.upstreams, `proxy.upstreams[${index}]`, url, port);
  }
  for (const [routeIndex, route] of config.routes.entries()) {
    for (const [index, url] of route.upstreams.entries()) {
      const port = selfPort(url, host, ports);
      if (port !== undefined) return problem(keys.routes, `routes[${routeIndex}].upstreams[${index}]`, url, port, `route "${route.prefix}" `);
    }
  }
  return undefined;
}
