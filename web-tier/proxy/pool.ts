/**
 * The upstream pool: which app-tier address gets the next request. Round-robin over
 * APP_UPSTREAMS with minimal passive health (nginx `max_fails` / `fail_timeout`): an upstream
 * that failed `maxFails` times in a row is left out for `failTimeoutMs`, then tried again.
 * Kept apart from forwarding so that issue 6 (weights, least-connections, active checks) only
 * changes this file.
 */

export interface PassiveHealthOptions {
  /** Consecutive failures (refused, reset, timeout) that take an upstream out of rotation. */
  maxFails: number;
  /** How long it stays out, in milliseconds; then it gets traffic again. */
  failTimeoutMs: number;
}

export const PASSIVE_HEALTH_DEFAULTS: Readonly<PassiveHealthOptions> = Object.freeze({ maxFails: 3, failTimeoutMs: 10_000 });

export interface Upstream {
  /** The base URL as configured, e.g. "http://127.0.0.1:3000". */
  readonly url: string;
  /** Scheme, host and port only: what http-proxy connects to. */
  readonly origin: string;
  /** The base URL's path without a trailing slash ("" for "/"): prefixed to every request-target. */
  readonly basePath: string;
}

export interface UpstreamState {
  url: string;
  healthy: boolean;
  lastError?: string;
}

export interface UpstreamPool {
  /** The next healthy upstream in round-robin order, or undefined when none is configured or healthy. */
  pick(): Upstream | undefined;
  reportSuccess(upstream: Upstream): void;
  /** `reason` is a short code (ECONNREFUSED, UPSTREAM_TIMEOUT): it shows in upstreamStates(). */
  reportFailure(upstream: Upstream, reason: string): void;
  hasHealthy(): boolean;
  /** Seconds until an upstream comes back, for Retry-After (at least 1). */
  retryAfterSeconds(): number;
  states(): readonly UpstreamState[];
}

interface Member {
  readonly upstream: Upstream;
  fails: number;
  downUntil: number;
  lastError: string | undefined;
}

/** Parses one base URL; throws a TypeError naming it when it is not plain http://host[:port][/path]. */
export function parseUpstream(url: string): Upstream {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new TypeError(`upstream ${JSON.stringify(url)} is not a URL`, { cause: error });
  }
  if (parsed.protocol !== 'http:' || parsed.hostname === '' || parsed.search !== '' || parsed.hash !== '' || parsed.username !== '') {
    throw new TypeError(`upstream ${JSON.stringify(url)} must be http://host[:port][/path]`);
  }
  return { url, origin: parsed.origin, basePath: parsed.pathname.replace(/\/+$/, '') };
}

export function createUpstreamPool(
  urls: readonly string[],
  health: PassiveHealthOptions = PASSIVE_HEALTH_DEFAULTS,
  now: () => number = Date.now,
): UpstreamPool {
  const members: Member[] = urls.map((url) => ({ upstream: parseUpstream(url), fails: 0, downUntil: 0, lastError: undefined }));
  const byUpstream = new Map(members.map((member) => [member.upstream, member]));
  let cursor = 0;

  const isHealthy = (member: Member, at: number): boolean => member.downUntil <= at;

  return {
    pick() {
      const at = now();
      for (let step = 0; step < members.length; step += 1) {
        const member = members[(cursor + step) % members.length];
        if (member !== undefined && isHealthy(member, at)) {
          cursor = (cursor + step + 1) % members.length;
          return member.upstream;
        }
      }
      return undefined;
    },
    reportSuccess(upstream) {
      const member = byUpstream.get(upstream);
      if (member !== undefined) member.fails = 0;
    },
    reportFailure(upstream, reason) {
      const member = byUpstream.get(upstream);
      if (member === undefined) return;
      member.lastError = reason;
      member.fails += 1;
      if (member.fails >= health.maxFails) {
        member.fails = 0;
        member.downUntil = now() + health.failTimeoutMs;
      }
    },
    hasHealthy() {
      const at = now();
      return members.some((member) => isHealthy(member, at));
    },
    retryAfterSeconds() {
      const at = now();
      const waits = members.map((member) => member.downUntil - at).filter((wait) => wait > 0);
      const wait = waits.length === 0 ? health.failTimeoutMs : Math.min(...waits);
      return Math.max(1, Math.ceil(wait / 1000));
    },
    states() {
      const at = now();
      return members.map((member) => {
        const state: UpstreamState = { url: member.upstream.url, healthy: isHealthy(member, at) };
        if (member.lastError !== undefined) state.lastError = member.lastError;
        return state;
      });
    },
  };
}
