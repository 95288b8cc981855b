/**
 * One snapshot of everything the status page shows, built on demand: `/-/status.json` returns
 * it, `/-/status/events` pushes it every second, and the page renders it. Its shape is
 * documented in README.md; fields only ever get added.
 */
import type { ProxyConfig } from '../proxy/config.js';
import type { DynamicMode } from '../server-config.js';
import type { PeerLimitStats } from '../peer-guard.js';
import type { UpgradeStats } from '../upgraded-connections.js';
import { createWorkerFetcher, type WorkerFetcherOptions, type WorkersReport } from './app-workers.js';
import { createBenchReader, type BenchSummary } from './bench-summary.js';
import type { EventLoopDelay, WebMetrics } from './metrics.js';
import { createRecentErrors, type RecentError } from './recent-errors.js';
import { createTrafficWindow, type TrafficSnapshot } from './traffic-window.js';
import { readUpstreams, type UpstreamSource, type UpstreamView } from './upstream-view.js';

/** The two config values the operator reads: server.dynamic and proxy.upstreams, live (a reload may change the upstreams). */
export interface OperatorConfig {
  readonly dynamic: DynamicMode;
  readonly upstreams: ProxyConfig['upstreams'];
}

/** Where the tiers run: single-box, multi-box… plus whatever the placement file says about itself. */
export interface Placement {
  readonly name: string;
  readonly [detail: string]: unknown;
}

export interface StatusSnapshot {
  generatedAt: string;
  web: {
    pid: number;
    node: string;
    uptimeSeconds: number;
    rssBytes: number;
    inFlight: number;
    eventLoopDelayMs: EventLoopDelay;
    dynamic: DynamicMode;
  };
  placement: Placement;
  upstreams: (UpstreamView & { workers: WorkersReport })[];
  traffic: TrafficSnapshot;
  recentErrors: readonly RecentError[];
  bench: BenchSummary | { error: string } | null;
  /** Per-client limits: settings, what they refused, table sizes (null when the server keeps none). */
  limits: PeerLimitStats | null;
  /** Upgraded (WebSocket) connections: open now, bytes each way, refusals (null when the server keeps none). */
  upgrades: UpgradeStats | null;
}

export interface StatusSourceOptions {
  config: OperatorConfig;
  metrics: WebMetrics;
  /** The proxy handler; absent in embedded and CGI modes (no app tier to show). */
  proxy?: UpstreamSource;
  placement?: Placement;
  /** Where `npm run bench` writes latest.json; absent: no bench section. */
  benchResultsDir?: string;
  workers?: WorkerFetcherOptions;
  recentErrorLimit?: number;
  now?: () => number;
}

export interface StatusSource {
  snapshot(): Promise<StatusSnapshot>;
  close(): void;
}

const LOOPBACK = /^(?:127\.\d+\.\d+\.\d+|\[::1\]|localhost)$/i;

/** Without a placement from the deploy config, say what the addresses imply. */
export function derivePlacement(config: OperatorConfig): Placement {
  if (config.dynamic !== 'proxy') return { name: `single-process (${config.dynamic})`, dynamic: config.dynamic };
  const hosts = config.upstreams.map((url) => (URL.canParse(url) ? new URL(url).hostname : url));
  const local = hosts.every((host) => LOOPBACK.test(host));
  return { name: local ? 'single-box' : 'multi-box', dynamic: config.dynamic, appHosts: [...new Set(hosts)] };
}

export function createStatusSource(options: StatusSourceOptions): StatusSource {
  const now = options.now ?? Date.now;
  const startedAt = now();
  const traffic = createTrafficWindow({ now });
  const recentErrors = createRecentErrors(options.recentErrorLimit);
  const workers = createWorkerFetcher({ ...options.workers, now });
  const bench = createBenchReader(options.benchResultsDir);
  const stopListening = options.metrics.onFinished((request) => {
    traffic.record(request.status);
    recentErrors.record(request);
  });

  return {
    async snapshot() {
      const upstreamViews = readUpstreams(options.proxy);
      const [reports, latestBench] = await Promise.all([
        Promise.all(upstreamViews.map((upstream) => workers.workersOf(upstream.url))),
        bench.latest(),
      ]);
      return {
        generatedAt: new Date(now()).toISOString(),
        web: {
          pid: process.pid,
          node: process.version,
          uptimeSeconds: Math.round((now() - startedAt) / 1000),
          rssBytes: process.memoryUsage.rss(),
          inFlight: options.metrics.inFlight(),
          eventLoopDelayMs: options.metrics.eventLoopDelay(),
          dynamic: options.config.dynamic,
        },
        // Derived per snapshot: a config reload may change the upstream addresses.
        placement: options.placement ?? derivePlacement(options.config),
        upstreams: upstreamViews.map((upstream, index) => ({ ...upstream, workers: reports[index] ?? { ok: false, error: 'not asked' } })),
        traffic: traffic.snapshot(),
        recentErrors: recentErrors.list(),
        bench: latestBench,
        limits: options.metrics.peerLimits(),
        upgrades: options.metrics.upgrades(),
      };
    },
    close() {
      stopListening();
      workers.close();
    },
  };
}
