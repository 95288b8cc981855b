/**
 * The web tier's Prometheus metrics, on a Registry of their own (never prom-client's global
 * one, so two servers in one test process never share counters). Request metrics come from two
 * hooks that server.ts calls; upstream metrics are read from the proxy at scrape time; CGI and
 * static-cache metrics from small hooks their handlers call. Every name is in README.md.
 */
import type { ServerResponse } from 'node:http';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Metric, Registry } from 'prom-client';
import type { RequestContext, ServedBy } from '../context.js';
import type { PeerLimitStats } from '../peer-guard.js';
import { readRetries, readStat, readUpstreams, type UpstreamSource } from './upstream-view.js';

/** What onRequestEnd saw, handed to listeners (the status page's traffic window and error list). */
export interface FinishedRequest {
  readonly requestId: string;
  readonly route: ServedBy;
  readonly method: string;
  /** The path only: a query string may carry secrets and never reaches the status page. */
  readonly path: string;
  /** 0 when the connection closed before a response head was sent. */
  readonly status: number;
  readonly bytes: number;
  readonly seconds: number;
  readonly upstream?: string;
  /** Date.now() when it finished. */
  readonly at: number;
}

export interface EventLoopDelay {
  readonly meanMs: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface WebMetrics {
  /** The Content-Type of `text()`: Prometheus text exposition format 0.0.4. */
  readonly contentType: string;
  /** server.ts: once, right after the RequestContext exists. */
  onRequestStart(ctx: RequestContext): void;
  /** server.ts: once, where the access-log line is written; `bytes` is the body bytes it counted. */
  onRequestEnd(ctx: RequestContext, res: ServerResponse, bytes: number): void;
  /** CGI gateway: a script process was spawned. */
  onCgiSpawn(): void;
  /** CGI gateway: a script process exited; `failed` when it exited non-zero, was killed or timed out. */
  onCgiExit(failed: boolean): void;
  /** Static handler: a body-cache lookup for a file it is about to send. */
  onStaticCacheLookup(hit: boolean): void;
  /** Where upstream health, latency, failures and retries are read at scrape time (the proxy handler). */
  watchUpstreams(source: UpstreamSource | undefined): void;
  /** server.ts: the per-client limits (peer-guard.ts), read at scrape time and by the status page. */
  watchPeerLimits(source: { stats(): PeerLimitStats } | undefined): void;
  /** Their numbers now; null when nothing is watched. */
  peerLimits(): PeerLimitStats | null;
  /** Listeners for every finished request (the status page's rate window and recent errors). */
  onFinished(listener: (request: FinishedRequest) => void): () => void;
  inFlight(): number;
  eventLoopDelay(): EventLoopDelay;
  text(): Promise<string>;
  /** Stops the event-loop monitor. */
  close(): void;
}

const PREFIX = 'twotier_web_';
/** prom-client's Registry.PROMETHEUS_CONTENT_TYPE, known before prom-client is loaded. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
/** Methods outside this set share one label value, so a client cannot grow the series count. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Label value → the proxy's stats() field it is read from. */
const REJECTION_STATS: readonly (readonly [string, string])[] = [['queue_full', 'queueFull'], ['queue_timeout', 'queueTimeouts'], ['retry_budget', 'retryBudgetExhausted']];
const LOOP_RESOLUTION_MS = 10;
/** The event-loop delay histogram restarts after this, so its numbers describe recent minutes, not the whole uptime. */
const LOOP_WINDOW_MS = 60_000;

export function methodLabel(method: string | undefined): string {
  return method !== undefined && METHODS.has(method) ? method : 'OTHER';
}

export function createWebMetrics(options: { now?: () => number } = {}): WebMetrics {
  const now = options.now ?? Date.now;
  const listeners = new Set<(request: FinishedRequest) => void>();
  let upstreams: UpstreamSource | undefined;
  let peerLimits: { stats(): PeerLimitStats } | undefined;
  let active = 0;

  const loop: IntervalHistogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  loop.enable();
  let loopSince = now();
  const eventLoopDelay = (): EventLoopDelay => {
    // The histogram records whole timer intervals, so an idle loop reads ~resolution; the delay
    // is what exceeds it (as @fastify/under-pressure computes it).
    const ms = (ns: number): number => (Number.isFinite(ns) ? Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS) : 0);
    const delay = { meanMs: ms(loop.mean), p99Ms: ms(loop.percentile(99)), maxMs: ms(loop.max) };
    if (now() - loopSince >= LOOP_WINDOW_MS) {
      loop.reset();
      loopSince = now();
    }
    return delay;
  };

  // Everything a request moves is a plain number here; prom-client (and its ~10 MiB) is loaded
  // and handed these numbers only when /-/metrics is first scraped.
  const requestCounts = new Map<string, { readonly labels: { route: string; method: string; status: string }; count: number }>();
  const bytesByRoute = new Map<string, number>();
  const duration = createRequestHistogram(`${PREFIX}request_duration_seconds`, 'Time from accepting a request to its response finishing, by route class.');
  let cgiLive = 0;
  let cgiStartedCount = 0;
  let cgiFailedCount = 0;
  // Zero-valued series exist from the first scrape, so rate() has a starting point (Prometheus best practice).
  const cacheLookups = { hit: 0, miss: 0 };

  function register({ Counter, Gauge, Registry }: typeof import('prom-client')): Registry {
    const registry = new Registry();
    new Counter({
      name: `${PREFIX}requests_total`,
      help: 'Requests answered, by route class (static, app, cgi, embedded, web), method and status (0: no response head was sent).',
      labelNames: ['route', 'method', 'status'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const { labels, count } of requestCounts.values()) this.inc(labels, count);
      },
    });
    registry.registerMetric(duration.metric);
    new Gauge({
      name: `${PREFIX}requests_in_flight`,
      help: 'Requests accepted and not yet finished.',
      registers: [registry],
      collect() {
        this.set(active);
      },
    });
    new Counter({
      name: `${PREFIX}response_bytes_total`,
      help: 'Response body bytes written, by route class (headers not counted).',
      labelNames: ['route'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [route, count] of bytesByRoute) this.inc({ route }, count);
      },
    });
    new Gauge({
      name: `${PREFIX}upstream_up`,
      help: 'Whether the proxy sends traffic to this app-tier upstream (1) or has taken it out of rotation (0).',
      labelNames: ['upstream'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const upstream of readUpstreams(upstreams)) this.set({ upstream: upstream.url }, upstream.healthy ? 1 : 0);
      },
    });
    new Gauge({
      name: `${PREFIX}upstream_latency_seconds`,
      help: 'Smoothed (EWMA) response latency of each upstream, as the proxy measures it.',
      labelNames: ['upstream'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const upstream of readUpstreams(upstreams)) {
          if (upstream.latencyMsEwma !== undefined) this.set({ upstream: upstream.url }, upstream.latencyMsEwma / 1000);
        }
      },
    });
    new Gauge({
      name: `${PREFIX}upstream_active_requests`,
      help: 'Requests currently forwarded to each upstream.',
      labelNames: ['upstream'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const upstream of readUpstreams(upstreams)) {
          if (upstream.active !== undefined) this.set({ upstream: upstream.url }, upstream.active);
        }
      },
    });
    new Counter({
      name: `${PREFIX}upstream_failures_total`,
      help: 'Failed exchanges with each upstream (refused, reset, timeout), as the proxy counts them.',
      labelNames: ['upstream'] as const,
      registers: [registry],
      collect() {
        // The proxy keeps the running total; a counter can only be set by reset + inc.
        this.reset();
        for (const upstream of readUpstreams(upstreams)) {
          if (upstream.failures !== undefined) this.inc({ upstream: upstream.url }, upstream.failures);
        }
      },
    });
    new Counter({
      name: `${PREFIX}upstream_retries_total`,
      help: 'Requests the proxy sent again to an upstream after a failure before any response byte.',
      registers: [registry],
      collect() {
        this.reset();
        const retries = readRetries(upstreams);
        if (retries !== undefined) this.inc(retries);
      },
    });
    new Counter({
      name: `${PREFIX}proxy_rejected_total`,
      help: 'Requests the proxy turned away or did not retry, by reason: queue_full and queue_timeout (503), retry_budget (a safe retry the budget refused).',
      labelNames: ['reason'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [reason, key] of REJECTION_STATS) {
          const value = readStat(upstreams, key);
          if (value !== undefined) this.inc({ reason }, value);
        }
      },
    });
    new Counter({
      name: `${PREFIX}limited_total`,
      help: 'Per-client limits applied, by reason: connections (closed at accept, peer at WEB_PEER_MAX_CONNECTIONS), rate (429, client over WEB_PEER_RATE_PER_SEC).',
      labelNames: ['reason'] as const,
      registers: [registry],
      collect() {
        this.reset();
        const stats = peerLimits?.stats();
        this.inc({ reason: 'connections' }, stats?.refusedConnections ?? 0);
        this.inc({ reason: 'rate' }, stats?.limitedRequests ?? 0);
      },
    });
    new Gauge({
      name: `${PREFIX}peer_table_entries`,
      help: 'Entries in the per-client tables: connections (peers with an open connection), rate (clients with a token bucket; bounded by WEB_PEER_RATE_MAX_ENTRIES).',
      labelNames: ['table'] as const,
      registers: [registry],
      collect() {
        const stats = peerLimits?.stats();
        this.set({ table: 'connections' }, stats?.peersConnected ?? 0);
        this.set({ table: 'rate' }, stats?.rateEntries ?? 0);
      },
    });
    new Counter({
      name: `${PREFIX}cgi_processes_started_total`,
      help: 'CGI script processes spawned.',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(cgiStartedCount);
      },
    });
    new Counter({
      name: `${PREFIX}cgi_processes_failed_total`,
      help: 'CGI script processes that exited non-zero, were killed or timed out.',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(cgiFailedCount);
      },
    });
    new Gauge({
      name: `${PREFIX}cgi_processes_live`,
      help: 'CGI script processes running now.',
      registers: [registry],
      collect() {
        this.set(cgiLive);
      },
    });
    new Counter({
      name: `${PREFIX}static_cache_lookups_total`,
      help: 'Static body-cache lookups, by result (hit, miss).',
      labelNames: ['result'] as const,
      registers: [registry],
      collect() {
        this.reset();
        this.inc({ result: 'hit' }, cacheLookups.hit);
        this.inc({ result: 'miss' }, cacheLookups.miss);
      },
    });
    new Gauge({
      name: `${PREFIX}event_loop_delay_seconds`,
      help: 'Event-loop delay over the last minute or so (perf_hooks.monitorEventLoopDelay), by statistic (mean, p99, max).',
      labelNames: ['stat'] as const,
      registers: [registry],
      collect() {
        const delay = eventLoopDelay();
        this.set({ stat: 'mean' }, delay.meanMs / 1000);
        this.set({ stat: 'p99' }, delay.p99Ms / 1000);
        this.set({ stat: 'max' }, delay.maxMs / 1000);
      },
    });
    new Gauge({
      name: `${PREFIX}resident_memory_bytes`,
      help: 'Resident set size of the web tier process.',
      registers: [registry],
      collect() {
        this.set(process.memoryUsage.rss());
      },
    });

    return registry;
  }
  let registry: Promise<Registry> | undefined;

  return {
    contentType: PROMETHEUS_CONTENT_TYPE,
    onRequestStart(ctx) {
      if (ctx.metricsStarted === true) return;
      ctx.metricsStarted = true;
      active += 1;
    },
    onRequestEnd(ctx, res, byteCount) {
      // Idempotent: 'finish' and 'close' may both report the same request.
      if (ctx.metricsEnded === true) return;
      ctx.metricsEnded = true;
      if (ctx.metricsStarted === true) active -= 1;
      const status = res.headersSent ? res.statusCode : 0;
      const seconds = Number(process.hrtime.bigint() - ctx.startedAt) / 1e9;
      const route = ctx.servedBy;
      const method = methodLabel(res.req?.method);
      const key = `${route} ${method} ${status}`;
      const counted = requestCounts.get(key);
      if (counted !== undefined) counted.count += 1;
      else requestCounts.set(key, { labels: { route, method, status: String(status) }, count: 1 });
      duration.observe(route, seconds);
      bytesByRoute.set(route, (bytesByRoute.get(route) ?? 0) + byteCount);
      if (listeners.size === 0) return;
      const finished: FinishedRequest = {
        requestId: ctx.requestId,
        route,
        method,
        path: ctx.pathname,
        status,
        bytes: byteCount,
        seconds,
        at: now(),
        ...(ctx.upstream === undefined ? {} : { upstream: ctx.upstream }),
      };
      for (const listener of listeners) listener(finished);
    },
    onCgiSpawn() {
      cgiLive += 1;
      cgiStartedCount += 1;
    },
    onCgiExit(failed) {
      cgiLive = Math.max(0, cgiLive - 1);
      if (failed) cgiFailedCount += 1;
    },
    onStaticCacheLookup(hit) {
      if (hit) cacheLookups.hit += 1;
      else cacheLookups.miss += 1;
    },
    watchUpstreams(source) {
      upstreams = source;
    },
    watchPeerLimits(source) {
      peerLimits = source;
    },
    peerLimits: () => peerLimits?.stats() ?? null,
    onFinished(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    inFlight: () => active,
    eventLoopDelay,
    text: async () => (await (registry ??= import('prom-client').then(register))).metrics(),
    close() {
      loop.disable();
      listeners.clear();
    },
  };
}

interface RouteLatency {
  /** Observations per bucket (not cumulative); the last slot is +Inf. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/**
 * `request_duration_seconds` as prom-client would expose a Histogram, kept as plain arrays: an
 * observation is a bucket search and three additions (prom-client's Histogram hashes its
 * labels on every observe, a few percent of a static request's CPU — issue 8).
 */
function createRequestHistogram(name: string, help: string): { metric: Metric; observe(route: string, seconds: number): void } {
  const routes = new Map<string, RouteLatency>();
  const values = (): { labels: Record<string, string | number>; value: number; metricName: string }[] => {
    const out: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const [route, latency] of routes) {
      let cumulative = 0;
      latency.counts.forEach((count, index) => {
        cumulative += count;
        out.push({ labels: { le: LATENCY_BUCKETS[index] ?? '+Inf', route }, value: cumulative, metricName: `${name}_bucket` });
      });
      out.push({ labels: { route }, value: latency.sum, metricName: `${name}_sum` });
      out.push({ labels: { route }, value: latency.count, metricName: `${name}_count` });
    }
    return out;
  };
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get: async () => ({ name, help, type: 'histogram', aggregator: 'sum', values: values() }),
    reset: () => routes.clear(),
  };
  return {
    metric: metric as unknown as Metric,
    observe(route, seconds) {
      let latency = routes.get(route);
      if (latency === undefined) {
        latency = { counts: new Float64Array(LATENCY_BUCKETS.length + 1), sum: 0, count: 0 };
        routes.set(route, latency);
      }
      let index = 0;
      while (index < LATENCY_BUCKETS.length && seconds > (LATENCY_BUCKETS[index] as number)) index += 1;
      latency.counts[index] = (latency.counts[index] ?? 0) + 1;
      latency.sum += seconds;
      latency.count += 1;
    },
  };
}
