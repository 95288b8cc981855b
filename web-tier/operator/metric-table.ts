/**
 * Every metric the web tier exposes, as one table (common/metric-table.ts turns the rows into
 * prom-client objects when /-/metrics is first scraped). Each row's source reads the plain
 * numbers metrics.ts keeps, the proxy's upstream view, or the per-client limits. Every name is
 * in README.md; the order here is the order of the exposition.
 */
import type { HistogramSeries, Labels, MetricRow, Sample } from '../../common/metric-table.js';
import type { PeerLimitStats } from '../peer-guard.js';
import type { UpgradeStats } from '../upgraded-connections.js';
import type { EventLoopDelay } from './event-loop-delay.js';
import { readRetries, readStat, readUpstreams, type UpstreamSource } from './upstream-view.js';

const PREFIX = 'twotier_web_';

export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Label value → the proxy's stats() field it is read from. */
const REJECTION_STATS: readonly (readonly [string, string])[] = [['queue_full', 'queueFull'], ['queue_timeout', 'queueTimeouts'], ['retry_budget', 'retryBudgetExhausted']];

/** What metrics.ts counts (plain numbers: the request path never touches prom-client). */
export interface WebMetricState {
  /** Keyed by `route method status`. */
  readonly requests: Map<string, { readonly labels: Labels; count: number }>;
  /** Keyed by route. */
  readonly durations: Map<string, HistogramSeries>;
  readonly bytesByRoute: Map<string, number>;
  inFlight: number;
  cgiLive: number;
  cgiStarted: number;
  cgiFailed: number;
  cacheHits: number;
  cacheMisses: number;
  upstreams: UpstreamSource | undefined;
  peerLimits: { stats(): PeerLimitStats } | undefined;
  upgrades: { stats(): UpgradeStats } | undefined;
  readonly eventLoopDelay: () => EventLoopDelay;
}

function* upstreamSamples(state: WebMetricState, read: (upstream: ReturnType<typeof readUpstreams>[number]) => number | undefined): Iterable<Sample> {
  for (const upstream of readUpstreams(state.upstreams)) {
    const value = read(upstream);
    // A `group` label only with WEB_ROUTES (one URL may then serve two groups): without routes the series are as before.
    if (value !== undefined) yield [upstream.group === undefined ? { upstream: upstream.url } : { upstream: upstream.url, group: upstream.group }, value];
  }
}

function upgradeRows(upgraded: () => UpgradeStats | undefined): MetricRow[] {
  return [
    {
      name: `${PREFIX}upgraded_connections`, type: 'gauge', labels: ['state'],
      help: 'Upgraded (WebSocket) connections now, by state: open (101 sent, spliced or held by the embedded app), handshake (admitted, not answered yet).',
      source: () => {
        const stats = upgraded();
        return [[{ state: 'open' }, stats?.open ?? 0], [{ state: 'handshake' }, stats?.handshaking ?? 0]];
      },
    },
    {
      name: `${PREFIX}upgraded_bytes_total`, type: 'counter', labels: ['direction'],
      help: 'Bytes carried on upgraded connections after the handshake, by direction: from_client, to_client (read at the client socket; frames are not parsed).',
      source: () => {
        const stats = upgraded();
        return [[{ direction: 'from_client' }, stats?.bytesFromClients ?? 0], [{ direction: 'to_client' }, stats?.bytesToClients ?? 0]];
      },
    },
    {
      name: `${PREFIX}upgrades_refused_total`, type: 'counter', labels: ['reason'],
      help: 'Upgrade handshakes refused by the caps (total: 503 at WEB_WS_MAX_CONNECTIONS; peer: 429 at WEB_WS_MAX_PER_PEER) and upgraded connections closed idle (idle: WEB_WS_IDLE_TIMEOUT_MS).',
      source: () => {
        const stats = upgraded();
        return [[{ reason: 'total' }, stats?.limitedTotal ?? 0], [{ reason: 'peer' }, stats?.limitedPerPeer ?? 0], [{ reason: 'idle' }, stats?.idleClosed ?? 0]];
      },
    },
  ];
}

export function webMetricTable(state: WebMetricState): readonly MetricRow[] {
  const peer = (): PeerLimitStats | undefined => state.peerLimits?.stats();
  const upgraded = (): UpgradeStats | undefined => state.upgrades?.stats();
  return [
    {
      name: `${PREFIX}requests_total`, type: 'counter', labels: ['route', 'method', 'status'],
      help: 'Requests answered, by route class (static, app, cgi, embedded, web), method and status (0: no response head was sent).',
      source: () => [...state.requests.values()].map(({ labels, count }): Sample => [labels, count]),
    },
    {
      name: `${PREFIX}request_duration_seconds`, type: 'histogram', labels: ['route'], buckets: LATENCY_BUCKETS,
      help: 'Time from accepting a request to its response finishing, by route class.',
      source: () => state.durations.values(),
    },
    { name: `${PREFIX}requests_in_flight`, type: 'gauge', help: 'Requests accepted and not yet finished.', source: () => state.inFlight },
    {
      name: `${PREFIX}response_bytes_total`, type: 'counter', labels: ['route'],
      help: 'Response body bytes written, by route class (headers not counted).',
      source: () => [...state.bytesByRoute].map(([route, bytes]): Sample => [{ route }, bytes]),
    },
    {
      name: `${PREFIX}upstream_up`, type: 'gauge', labels: ['upstream', 'group'],
      help: 'Whether the proxy sends traffic to this app-tier upstream (1) or has taken it out of rotation (0).',
      source: () => upstreamSamples(state, (upstream) => (upstream.healthy ? 1 : 0)),
    },
    {
      name: `${PREFIX}upstream_latency_seconds`, type: 'gauge', labels: ['upstream', 'group'],
      help: 'Smoothed (EWMA) response latency of each upstream, as the proxy measures it.',
      source: () => upstreamSamples(state, (upstream) => (upstream.latencyMsEwma === undefined ? undefined : upstream.latencyMsEwma / 1000)),
    },
    {
      name: `${PREFIX}upstream_active_requests`, type: 'gauge', labels: ['upstream', 'group'],
      help: 'Requests currently forwarded to each upstream.',
      source: () => upstreamSamples(state, (upstream) => upstream.active),
    },
    {
      // The proxy keeps the running total.
      name: `${PREFIX}upstream_failures_total`, type: 'counter', labels: ['upstream', 'group'],
      help: 'Failed exchanges with each upstream (refused, reset, timeout), as the proxy counts them.',
      source: () => upstreamSamples(state, (upstream) => upstream.failures),
    },
    {
      name: `${PREFIX}upstream_retries_total`, type: 'counter',
      help: 'Requests the proxy sent again to an upstream after a failure before any response byte.',
      source: () => readRetries(state.upstreams) ?? [],
    },
    {
      name: `${PREFIX}proxy_rejected_total`, type: 'counter', labels: ['reason'],
      help: 'Requests the proxy turned away or did not retry, by reason: queue_full and queue_timeout (503), retry_budget (a safe retry the budget refused).',
      source: () => REJECTION_STATS.flatMap(([reason, key]): Sample[] => {
        const value = readStat(state.upstreams, key);
        return value === undefined ? [] : [[{ reason }, value]];
      }),
    },
    {
      name: `${PREFIX}limited_total`, type: 'counter', labels: ['reason'],
      help: 'Per-client limits applied, by reason: connections (closed at accept, peer at WEB_PEER_MAX_CONNECTIONS), rate (429, client over WEB_PEER_RATE_PER_SEC).',
      source: () => {
        const stats = peer();
        return [[{ reason: 'connections' }, stats?.refusedConnections ?? 0], [{ reason: 'rate' }, stats?.limitedRequests ?? 0]];
      },
    },
    {
      name: `${PREFIX}peer_table_entries`, type: 'gauge', labels: ['table'],
      help: 'Entries in the per-client tables: connections (peers with an open connection), rate (clients with a token bucket; bounded by WEB_PEER_RATE_MAX_ENTRIES).',
      source: () => {
        const stats = peer();
        return [[{ table: 'connections' }, stats?.peersConnected ?? 0], [{ table: 'rate' }, stats?.rateEntries ?? 0]];
      },
    },
    // Issue 16, only where upgrades are watched (every server): a table read without them is as it was.
    ...(state.upgrades === undefined ? [] : upgradeRows(upgraded)),
    { name: `${PREFIX}cgi_processes_started_total`, type: 'counter', help: 'CGI script processes spawned.', source: () => state.cgiStarted },
    { name: `${PREFIX}cgi_processes_failed_total`, type: 'counter', help: 'CGI script processes that exited non-zero, were killed or timed out.', source: () => state.cgiFailed },
    { name: `${PREFIX}cgi_processes_live`, type: 'gauge', help: 'CGI script processes running now.', source: () => state.cgiLive },
    {
      // Both series exist from the first scrape, so rate() has a starting point (Prometheus best practice).
      name: `${PREFIX}static_cache_lookups_total`, type: 'counter', labels: ['result'],
      help: 'Static body-cache lookups, by result (hit, miss).',
      source: () => [[{ result: 'hit' }, state.cacheHits], [{ result: 'miss' }, state.cacheMisses]],
    },
    {
      name: `${PREFIX}event_loop_delay_seconds`, type: 'gauge', labels: ['stat'],
      help: 'Event-loop delay over the last minute or so (perf_hooks.monitorEventLoopDelay), by statistic (mean, p99, max).',
      source: () => {
        const delay = state.eventLoopDelay();
        return [[{ stat: 'mean' }, delay.meanMs / 1000], [{ stat: 'p99' }, delay.p99Ms / 1000], [{ stat: 'max' }, delay.maxMs / 1000]];
      },
    },
    { name: `${PREFIX}resident_memory_bytes`, type: 'gauge', help: 'Resident set size of the web tier process.', source: () => process.memoryUsage.rss() },
  ];
}
