/**
 * Reads the proxy's view of its upstreams without depending on its exact shape: the proxy
 * grows fields over time (issue 6: state, latency, active requests, failures, retries), and
 * the operator page shows whichever exist. Unknown or mistyped fields are simply left out.
 */

/** What the operator needs from the proxy handler; `ProxyHandler` satisfies it structurally. */
export interface UpstreamSource {
  upstreamStates(): readonly { readonly url: string; readonly healthy: boolean }[];
  /** Pool-wide counters, when the proxy has them (e.g. `{ retries }`). */
  stats?(): object;
}

export interface UpstreamView {
  url: string;
  healthy: boolean;
  /** The pool's own word for it when it has one (up, down, draining…). */
  state?: string;
  latencyMsEwma?: number;
  active?: number;
  failures?: number;
  lastError?: string;
  /** WEB_ROUTES: the upstream group (a route's prefix, or "default" for APP_UPSTREAMS); absent without routes. */
  group?: string;
}

function numberField(record: Record<string, unknown>, key: string): number | undefined {
  const value = record[key];
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

function stringField(record: Record<string, unknown>, key: string): string | undefined {
  const value = record[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** A throwing source reads as "no upstreams": the status page must render whatever else it has. */
export function readUpstreams(source: UpstreamSource | undefined): UpstreamView[] {
  if (source === undefined) return [];
  let states: readonly object[];
  try {
    states = source.upstreamStates();
  } catch {
    return [];
  }
  const views: UpstreamView[] = [];
  for (const state of states) {
    const record = state as Record<string, unknown>;
    const url = stringField(record, 'url');
    if (url === undefined) continue;
    const view: UpstreamView = { url, healthy: record['healthy'] === true };
    const status = stringField(record, 'state');
    if (status !== undefined) view.state = status;
    const latency = numberField(record, 'latencyMsEwma');
    if (latency !== undefined) view.latencyMsEwma = latency;
    const active = numberField(record, 'active');
    if (active !== undefined) view.active = active;
    const failures = numberField(record, 'failures');
    if (failures !== undefined) view.failures = failures;
    const lastError = stringField(record, 'lastError');
    if (lastError !== undefined) view.lastError = lastError;
    const group = stringField(record, 'group');
    if (group !== undefined) view.group = group;
    views.push(view);
  }
  return views;
}

/** A pool-wide counter from `stats()`, when the proxy has it. */
export function readStat(source: UpstreamSource | undefined, key: string): number | undefined {
  try {
    const stats = source?.stats?.() as Record<string, unknown> | undefined;
    return stats === undefined ? undefined : numberField(stats, key);
  } catch {
    return undefined;
  }
}

/** The proxy's retry total: `stats().retries`, else the sum of per-upstream `retries`; undefined when it counts none. */
export function readRetries(source: UpstreamSource | undefined): number | undefined {
  if (source === undefined) return undefined;
  try {
    const stats = source.stats?.() as Record<string, unknown> | undefined;
    const total = stats === undefined ? undefined : numberField(stats, 'retries');
    if (total !== undefined) return total;
    const perUpstream = source.upstreamStates().map((state) => numberField(state as Record<string, unknown>, 'retries'));
    if (perUpstream.every((value) => value === undefined)) return undefined;
    return perUpstream.reduce<number>((sum, value) => sum + (value ?? 0), 0);
  } catch {
    return undefined;
  }
}
