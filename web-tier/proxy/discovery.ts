/**
 * DNS discovery of app replicas: an upstream given as a host name (`APP_UPSTREAMS=http://app:3000`)
 * stands for every address the name resolves to, the way compose `--scale` (Docker's embedded
 * DNS answers with every container of the service), Swarm (`tasks.app`, or `endpoint_mode: dnsrr`)
 * and Kubernetes headless Services expose replicas. The name is resolved again every
 * `resolveMs` (WEB_UPSTREAM_RESOLVE_MS) and soon after one of its addresses goes down (a refused
 * or reset connection is often a replica that is gone); the pool gains and drops addresses in
 * place (pool.ts setUpstreams): a new address is health-checked before it gets traffic, a
 * vanished one leaves rotation while its requests in flight finish. Like nginx's `resolve`
 * parameter of `server` (ngx_http_upstream module) and HAProxy's server-template + resolvers.
 *
 * Resolution uses getaddrinfo (dns.lookup, `all: true`), so /etc/hosts, nsswitch and the
 * container's resolver apply exactly as for any other program on the box. A failed or empty
 * answer keeps the addresses known so far (a resolver hiccup must not empty the pool); an IP
 * literal or `localhost` is never expanded, so configured addresses behave as before.
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import type { Logger } from '../../common/logger.js';
import { parseUpstream, type Upstream, type UpstreamEntry, type UpstreamPool } from './pool.js';

export type Resolve = (hostname: string) => Promise<string[]>;

export interface DiscoveryOptions {
  /** Re-resolve every name this often, ms (WEB_UPSTREAM_RESOLVE_MS); 0 = resolve once at start. */
  resolveMs: number;
  /** Whether a new address waits for its first active check (true when active health is on). */
  checkNew: boolean;
  logger: Logger;
  /** Tests inject their own; the default is getaddrinfo through dns.lookup. */
  resolve?: Resolve;
}

export interface Discovery {
  /** Resolves every name now and applies the answer; resolves when done (never rejects). */
  refresh(): Promise<void>;
  close(): void;
}

/**
 * Addresses kept per name: each is a pool member with its own health checks, metric series and
 * status row, so a resolver answering thousands (a wildcard zone, a poisoned cache) must not
 * make thousands. Far above any replica count a compose or Swarm service is scaled to.
 */
export const MAX_ADDRESSES_PER_NAME = 256;

/**
 * Answers that are never a replica: the unspecified addresses (a connection to 0.0.0.0 or ::
 * reaches this very host on Linux: the web tier itself, or loopback-only services), 0.0.0.0/8
 * (RFC 1122 §3.2.1.3: "this network", not a destination), multicast (RFC 5771, RFC 4291 §2.7)
 * and the limited broadcast address (RFC 919).
 */
const NEVER_A_REPLICA = new BlockList();
NEVER_A_REPLICA.addSubnet('0.0.0.0', 8, 'ipv4');
NEVER_A_REPLICA.addSubnet('224.0.0.0', 4, 'ipv4');
NEVER_A_REPLICA.addAddress('255.255.255.255', 'ipv4');
NEVER_A_REPLICA.addAddress('::', 'ipv6');
NEVER_A_REPLICA.addSubnet('ff00::', 8, 'ipv6');

function isReplicaAddress(address: string): boolean {
  const family = isIP(address);
  return family !== 0 && !NEVER_A_REPLICA.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

/** A failure triggers a re-resolve at most this often, so a flapping address cannot flood the resolver. */
const FAILURE_RESOLVE_GAP_MS = 1_000;

const resolveAll: Resolve = async (hostname) => (await lookup(hostname, { all: true, verbatim: true })).map((entry) => entry.address);

/** True when the upstream names a host to discover (not an address, not localhost). */
export function isDiscoverable(upstream: Upstream): boolean {
  return isIP(upstream.hostname) === 0 && upstream.hostname !== 'localhost';
}

/**
 * The upstream for one resolved address of a named one: same scheme, port, path and weight; an
 * https:// one keeps the name for SNI and the certificate check (the address is only where to connect).
 */
function atAddress(named: Upstream, address: string): Upstream {
  const host = isIP(address) === 6 ? `[${address}]` : address;
  const scheme = named.tls === undefined ? 'http' : 'https';
  const url = `${scheme}://${host}:${named.port}${named.basePath}`;
  return named.tls === undefined ? { ...parseUpstream(url), weight: named.weight } : { ...parseUpstream(url), weight: named.weight, tls: named.tls };
}

/**
 * Starts discovery for `entries` (the pool's configured list). Returns undefined when no entry is
 * a name: then nothing changes. Until a name's first answer the pool holds the name itself
 * (connections resolve it as before), so no request waits for discovery.
 */
export function startDiscovery(entries: readonly UpstreamEntry[], pool: UpstreamPool, options: DiscoveryOptions): Discovery | undefined {
  const configured = entries.map((entry) => parseUpstream(entry));
  if (!configured.some(isDiscoverable)) return undefined;
  const resolve = options.resolve ?? resolveAll;
  const { logger } = options;
  /** Per configured entry, the upstreams it stands for now (the entry itself until resolved). */
  const current = configured.map((upstream) => [upstream]);
  let closed = false;
  let running: Promise<void> | undefined;
  let lastResolveAt = 0;

  async function resolveOnce(): Promise<void> {
    lastResolveAt = Date.now();
    let changed = false;
    await Promise.all(configured.map(async (named, index) => {
      if (!isDiscoverable(named)) return;
      let addresses: string[];
      try {
        addresses = [...new Set(await resolve(named.hostname))].filter(isReplicaAddress).sort();
      } catch (error) {
        logger.warn({ upstream: named.url, err: error }, 'upstream name did not resolve; keeping the addresses known');
        return;
      }
      if (addresses.length === 0) return;
      if (addresses.length > MAX_ADDRESSES_PER_NAME) {
        logger.warn({ upstream: named.url, addresses: addresses.length, kept: MAX_ADDRESSES_PER_NAME }, 'upstream name resolved to more addresses than kept; using the lowest');
        addresses = addresses.slice(0, MAX_ADDRESSES_PER_NAME);
      }
      const before = current[index] ?? [];
      const next = addresses.map((address) => before.find((upstream) => upstream.hostname === address) ?? atAddress(named, address));
      if (next.length === before.length && next.every((upstream, at) => upstream === before[at])) return;
      logger.info({ upstream: named.url, addresses, was: before.map((upstream) => upstream.hostname) }, 'upstream addresses changed');
      current[index] = next;
      changed = true;
    }));
    if (changed && !closed) {
      // The first answer for a name replaces the name itself: those addresses are trusted like
      // configured ones (nothing was checked yet either way); later ones wait for their check.
      const firstAnswer = pool.upstreams.some((upstream) => isDiscoverable(upstream));
      pool.setUpstreams(current.flat(), options.checkNew && !firstAnswer);
    }
  }

  function refresh(): Promise<void> {
    running ??= resolveOnce().finally(() => {
      running = undefined;
    });
    return running;
  }

  // A discovered address going down (refused, reset, failed check): look the name up again.
  pool.onChange(() => {
    if (closed || running !== undefined || Date.now() - lastResolveAt < FAILURE_RESOLVE_GAP_MS) return;
    if (pool.states().some((state) => state.state === 'down')) void refresh();
  });

  const timer = options.resolveMs > 0 ? setInterval(() => void refresh(), options.resolveMs) : undefined;
  timer?.unref();
  void refresh();

  return {
    refresh,
    close() {
      closed = true;
      if (timer !== undefined) clearInterval(timer);
    },
  };
}
