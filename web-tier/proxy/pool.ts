/**
 * The upstream pool: which app-tier address gets the next request, and what the web tier knows
 * about each one. Balancing is nginx's smooth weighted round-robin (ngx_http_upstream_round_robin.c)
 * or least-connections weighted by `weight`; passive health follows nginx `max_fails` /
 * `fail_timeout`; active health (health-check.ts) reports through reportCheck(). Waiting for a
 * free slot is admission.ts's job; this file only knows who is eligible.
 */
import { PROXY_DEFAULTS, type BalanceMethod, type PassiveHealthConfig } from './config.js';
import { tlsServername } from './upstream-tls.js';

export type { BalanceMethod, PassiveHealthConfig } from './config.js';

/** proxy/config.ts's defaults, for a pool built without them (tests). */
export const PASSIVE_HEALTH_DEFAULTS: PassiveHealthConfig = PROXY_DEFAULTS.passiveHealth;

/** An upstream as configured: a base URL, optionally with `#weight=N`, or an object with a weight. */
export type UpstreamEntry = string | { readonly url: string; readonly weight?: number };

export interface PoolOptions {
  balance: BalanceMethod;
  /** Requests in flight per upstream; beyond it a request waits (admission.ts). */
  maxActivePerUpstream: number;
  passiveHealth: PassiveHealthConfig;
}

export interface Upstream {
  /** The base URL as configured, without any `#weight=N`, e.g. "http://127.0.0.1:3000". */
  readonly url: string;
  /** Scheme, host and port only: what http-proxy connects to. */
  readonly origin: string;
  /** The base URL's path without a trailing slash ("" for "/"): prefixed to every request-target. */
  readonly basePath: string;
  /** Host name or address without IPv6 brackets, and port: what the plain engine connects to. */
  readonly hostname: string;
  readonly port: number;
  readonly weight: number;
  /**
   * Present for an https:// upstream: the name its certificate is checked against and sent as
   * SNI ('' for an IP address: no SNI, the IP SANs are checked). The configured host name, also
   * for each address DNS discovery finds behind it (discovery.ts): never the client's Host.
   */
  readonly tls?: { readonly servername: string };
}

export type UpstreamStatus = 'up' | 'down' | 'draining';

/** What operators see per upstream (the status page and metrics read it). */
export interface UpstreamState {
  url: string;
  healthy: boolean;
  state: UpstreamStatus;
  weight: number;
  /** Requests in flight right now. */
  active: number;
  /** Requests waiting for a slot (the queue is shared; a waiter counts once, for the pool). */
  queued: number;
  /** Failures counted against it since start (passive health). */
  failures: number;
  lastError?: string;
  /** Time to the response head, exponentially weighted (alpha 0.2); 0 before the first answer. */
  latencyMsEwma: number;
  /** Epoch ms of the last active check. */
  lastCheckAt?: number;
}

export type CheckResult = 'up' | 'draining' | 'down';

export interface UpstreamPool {
  readonly upstreams: readonly Upstream[];
  /**
   * The next eligible upstream (healthy, below its cap), preferring any not in `avoid`
   * (a retry goes elsewhere when it can); undefined when none is eligible right now.
   */
  pick(avoid?: readonly Upstream[]): Upstream | undefined;
  /** Whether an upstream not in `tried` could take a request now or later (healthy; its cap aside). */
  hasUntried(tried: readonly Upstream[]): boolean;
  /** A request starts / stops occupying a slot on the upstream (least-conn counts these). */
  acquire(upstream: Upstream): void;
  release(upstream: Upstream): void;
  reportSuccess(upstream: Upstream, latencyMs?: number): void;
  /** `reason` is a short code (ECONNREFUSED, UPSTREAM_TIMEOUT): it shows in upstreamStates(). */
  reportFailure(upstream: Upstream, reason: string): void;
  /** The upstream answered with its draining signal: out of rotation until a check says ready, or failTimeoutMs. */
  reportDraining(upstream: Upstream): void;
  /** An active check's verdict; a ready one also ends a passive back-off caused by refused or reset connections. */
  reportCheck(upstream: Upstream, result: CheckResult, reason?: string): void;
  hasHealthy(): boolean;
  /** Seconds until an upstream comes back, for Retry-After (at least 1). */
  retryAfterSeconds(): number;
  setQueued(count: number): void;
  states(): UpstreamState[];
  /** Called whenever a check or a failure changes some upstream's state (not on a back-off simply running out). */
  onChange(listener: () => void): void;
  /**
   * Replaces the members (DNS discovery, discovery.ts): one whose url is kept keeps its state;
   * a new one starts 'down' until its first active check when `checkNew` (else 'up', like a
   * configured one); a dropped one leaves rotation at once, and its requests in flight finish
   * on their own connections (acquire/release/report on it are then no-ops).
   */
  setUpstreams(next: readonly Upstream[], checkNew: boolean): void;
}

interface Member {
  readonly upstream: Upstream;
  /** Smooth weighted round-robin's running weight. */
  current: number;
  active: number;
  fails: number;
  firstFailAt: number;
  downUntil: number;
  /** Taken out by a response that never came (a stall): a ready check does not vouch for that. */
  downByTimeout: boolean;
  drainingUntil: number;
  checked: CheckResult;
  failures: number;
  lastError: string | undefined;
  latencyMsEwma: number;
  lastCheckAt: number | undefined;
}

const WEIGHT = /^weight=(\d{1,3})$/;

/** Parses one base URL; throws a TypeError naming it when it is not http(s)://host[:port][/path][#weight=N]. */
export function parseUpstream(entry: UpstreamEntry): Upstream {
  const raw = typeof entry === 'string' ? entry : entry.url;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch (error) {
    throw new TypeError(`upstream ${JSON.stringify(raw)} is not a URL`, { cause: error });
  }
  const fragment = WEIGHT.exec(parsed.hash.slice(1));
  const secure = parsed.protocol === 'https:';
  if ((parsed.protocol !== 'http:' && !secure) || parsed.hostname === '' || parsed.search !== '' || (parsed.hash !== '' && fragment === null) || parsed.username !== '') {
    throw new TypeError(`upstream ${JSON.stringify(raw)} must be http(s)://host[:port][/path][#weight=N]`);
  }
  const weight = typeof entry === 'string' ? Number(fragment?.[1] ?? 1) : (entry.weight ?? Number(fragment?.[1] ?? 1));
  if (!Number.isSafeInteger(weight) || weight < 1 || weight > 100) throw new TypeError(`upstream ${JSON.stringify(raw)}: weight must be an integer from 1 to 100`);
  const url = parsed.hash === '' ? raw : raw.slice(0, raw.indexOf('#'));
  const hostname = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const upstream = { url, origin: parsed.origin, basePath: parsed.pathname.replace(/\/+$/, ''), hostname, port: Number(parsed.port === '' ? (secure ? 443 : 80) : parsed.port), weight };
  return secure ? { ...upstream, tls: { servername: tlsServername(hostname) } } : upstream;
}

export function createUpstreamPool(entries: readonly UpstreamEntry[], options: Partial<PoolOptions> = {}, now: () => number = Date.now): UpstreamPool {
  const balance = options.balance ?? 'round-robin';
  const cap = options.maxActivePerUpstream ?? Number.POSITIVE_INFINITY;
  const health = options.passiveHealth ?? PASSIVE_HEALTH_DEFAULTS;
  const memberOf = (upstream: Upstream, checked: CheckResult): Member => ({
    upstream, current: 0, active: 0, fails: 0, firstFailAt: 0, downUntil: 0, downByTimeout: false, drainingUntil: 0,
    checked, failures: 0, lastError: checked === 'up' ? undefined : 'NOT_CHECKED', latencyMsEwma: 0, lastCheckAt: undefined,
  });
  const members: Member[] = entries.map((entry) => memberOf(parseUpstream(entry), 'up'));
  const byUpstream = new Map(members.map((member) => [member.upstream, member]));
  const listeners: (() => void)[] = [];
  let queued = 0;

  const statusOf = (member: Member, at: number): UpstreamStatus => {
    if (member.checked === 'down' || member.downUntil > at) return 'down';
    if (member.checked === 'draining' || member.drainingUntil > at) return 'draining';
    return 'up';
  };
  const changed = (): void => {
    for (const listener of listeners) listener();
  };

  const eligible = (member: Member, at: number): boolean => member.active < cap && statusOf(member, at) === 'up';

  /**
   * Smooth weighted round-robin (nginx) among the eligible members not in `avoid`; with
   * least-conn, only among those with the fewest requests in flight per unit of weight, so that
   * equals take turns. Two passes over the members and no allocation: this runs per request.
   */
  function select(at: number, avoid: readonly Upstream[] | undefined): Member | undefined {
    let lowest = Number.POSITIVE_INFINITY;
    if (balance === 'least-conn') {
      for (const member of members) {
        if (avoid?.includes(member.upstream) !== true && eligible(member, at)) lowest = Math.min(lowest, member.active / member.upstream.weight);
      }
    }
    let total = 0;
    let best: Member | undefined;
    for (const member of members) {
      if (avoid?.includes(member.upstream) === true || !eligible(member, at)) continue;
      if (balance === 'least-conn' && member.active / member.upstream.weight !== lowest) continue;
      member.current += member.upstream.weight;
      total += member.upstream.weight;
      if (best === undefined || member.current > best.current) best = member;
    }
    if (best !== undefined) best.current -= total;
    return best;
  }

  return {
    get upstreams() {
      return members.map((member) => member.upstream);
    },
    pick(avoid) {
      const at = now();
      // Another upstream when there is one; an avoided one only as the last choice.
      const chosen = select(at, avoid) ?? (avoid === undefined ? undefined : select(at, undefined));
      return chosen?.upstream;
    },
    hasUntried(tried) {
      const at = now();
      return members.some((member) => !tried.includes(member.upstream) && statusOf(member, at) === 'up');
    },
    acquire(upstream) {
      const member = byUpstream.get(upstream);
      if (member !== undefined) member.active += 1;
    },
    release(upstream) {
      const member = byUpstream.get(upstream);
      if (member !== undefined && member.active > 0) member.active -= 1;
    },
    reportSuccess(upstream, latencyMs) {
      const member = byUpstream.get(upstream);
      if (member === undefined) return;
      member.fails = 0;
      if (latencyMs !== undefined) member.latencyMsEwma = member.latencyMsEwma === 0 ? latencyMs : member.latencyMsEwma * 0.8 + latencyMs * 0.2;
    },
    reportFailure(upstream, reason) {
      const member = byUpstream.get(upstream);
      if (member === undefined) return;
      const at = now();
      member.lastError = reason;
      member.failures += 1;
      // nginx: max_fails unsuccessful attempts within fail_timeout; an older streak starts over.
      if (member.fails === 0 || at - member.firstFailAt > health.failTimeoutMs) {
        member.fails = 0;
        member.firstFailAt = at;
      }
      member.fails += 1;
      if (member.fails >= health.maxFails) {
        member.fails = 0;
        member.downUntil = at + health.failTimeoutMs;
        member.downByTimeout = reason === 'UPSTREAM_TIMEOUT';
        changed();
      }
    },
    reportDraining(upstream) {
      const member = byUpstream.get(upstream);
      if (member === undefined) return;
      member.lastError = 'DRAINING';
      member.drainingUntil = now() + health.failTimeoutMs;
      changed();
    },
    reportCheck(upstream, result, reason) {
      const member = byUpstream.get(upstream);
      if (member === undefined) return;
      const before = statusOf(member, now());
      member.lastCheckAt = now();
      member.checked = result;
      if (result === 'up') {
        member.drainingUntil = 0;
        // Refused or reset connections are answered by a listener that is back: a ready check
        // ends that back-off early (an app tier restarted in 1 s is not kept out for failTimeoutMs).
        if (!member.downByTimeout) member.downUntil = 0;
      } else member.lastError = reason ?? (result === 'draining' ? 'DRAINING' : 'CHECK_FAILED');
      if (statusOf(member, now()) !== before) changed();
    },
    hasHealthy() {
      const at = now();
      return members.some((member) => statusOf(member, at) === 'up');
    },
    retryAfterSeconds() {
      const at = now();
      const waits = members.map((member) => Math.max(member.downUntil, member.drainingUntil) - at).filter((wait) => wait > 0);
      const wait = waits.length === 0 ? health.failTimeoutMs : Math.min(...waits);
      return Math.max(1, Math.ceil(wait / 1000));
    },
    setQueued(count) {
      queued = count;
    },
    states() {
      const at = now();
      return members.map((member) => {
        const status = statusOf(member, at);
        const state: UpstreamState = {
          url: member.upstream.url, healthy: status === 'up', state: status, weight: member.upstream.weight,
          active: member.active, queued, failures: member.failures, latencyMsEwma: Math.round(member.latencyMsEwma * 1000) / 1000,
        };
        if (member.lastError !== undefined) state.lastError = member.lastError;
        if (member.lastCheckAt !== undefined) state.lastCheckAt = member.lastCheckAt;
        return state;
      });
    },
    onChange(listener) {
      listeners.push(listener);
    },
    setUpstreams(next, checkNew) {
      const kept = new Map(members.map((member) => [member.upstream.url, member]));
      const fresh = next.map((upstream) => kept.get(upstream.url) ?? memberOf(upstream, checkNew ? 'down' : 'up'));
      members.splice(0, members.length, ...fresh);
      byUpstream.clear();
      for (const member of members) byUpstream.set(member.upstream, member);
      changed();
    },
  };
}
