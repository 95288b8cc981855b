/**
 * The web tier's Prometheus metrics, on a Registry of their own (never prom-client's global
 * one, so two servers in one test process never share counters). Request metrics come from two
 * hooks that the pipeline calls; upstream metrics are read from the proxy at scrape time; CGI and
 * static-cache metrics from small hooks their handlers call. What is exposed, and how each
 * series is read, is the table in metric-table.ts.
 */
import type { ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { createHistogramSeries, observeHistogram, registerMetricTable } from '../../common/metric-table.js';
import type { RequestContext, ServedBy } from '../context.js';
import type { PeerLimitStats } from '../peer-guard.js';
import type { UpgradeStats } from '../upgraded-connections.js';
import { createEventLoopDelay, type EventLoopDelay } from './event-loop-delay.js';
import { LATENCY_BUCKETS, webMetricTable, type WebMetricState } from './metric-table.js';
import type { UpstreamSource } from './upstream-view.js';

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

export type { EventLoopDelay };

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
  /** server.ts: the upgraded (WebSocket) connections (upgraded-connections.ts), read at scrape time and by the status page. */
  watchUpgrades(source: { stats(): UpgradeStats } | undefined): void;
  /** Their numbers now; null when nothing is watched. */
  upgrades(): UpgradeStats | null;
  /** Listeners for every finished request (the status page's rate window and recent errors). */
  onFinished(listener: (request: FinishedRequest) => void): () => void;
  inFlight(): number;
  eventLoopDelay(): EventLoopDelay;
  text(): Promise<string>;
  /** Stops the event-loop monitor. */
  close(): void;
}

/** prom-client's Registry.PROMETHEUS_CONTENT_TYPE, known before prom-client is loaded. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
/** Methods outside this set share one label value, so a client cannot grow the series count. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export function methodLabel(method: string | undefined): string {
  return method !== undefined && METHODS.has(method) ? method : 'OTHER';
}

export function createWebMetrics(options: { now?: () => number } = {}): WebMetrics {
  const now = options.now ?? Date.now;
  const listeners = new Set<(request: FinishedRequest) => void>();
  const loop = createEventLoopDelay(now);
  // Everything a request moves is a plain number here; prom-client (and its ~10 MiB) is loaded
  // and handed the table (metric-table.ts) only when /-/metrics is first scraped.
  const state: WebMetricState = {
    requests: new Map(),
    durations: new Map(),
    bytesByRoute: new Map(),
    inFlight: 0,
    cgiLive: 0,
    cgiStarted: 0,
    cgiFailed: 0,
    cacheHits: 0,
    cacheMisses: 0,
    upstreams: undefined,
    peerLimits: undefined,
    upgrades: undefined,
    eventLoopDelay: loop.read,
  };
  let registry: Promise<Registry> | undefined;
  const load = async (): Promise<Registry> => {
    const prom = await import('prom-client');
    const created = new prom.Registry();
    registerMetricTable(prom, created, webMetricTable(state));
    return created;
  };

  return {
    contentType: PROMETHEUS_CONTENT_TYPE,
    onRequestStart(ctx) {
      if (ctx.metricsStarted === true) return;
      ctx.metricsStarted = true;
      state.inFlight += 1;
    },
    onRequestEnd(ctx, res, byteCount) {
      // Idempotent: 'finish' and 'close' may both report the same request.
      if (ctx.metricsEnded === true) return;
      ctx.metricsEnded = true;
      if (ctx.metricsStarted === true) state.inFlight -= 1;
      const status = res.headersSent ? res.statusCode : 0;
      const seconds = Number(process.hrtime.bigint() - ctx.startedAt) / 1e9;
      const route = ctx.servedBy;
      const method = methodLabel(res.req?.method);
      const key = `${route} ${method} ${status}`;
      const counted = state.requests.get(key);
      if (counted !== undefined) counted.count += 1;
      else state.requests.set(key, { labels: { route, method, status: String(status) }, count: 1 });
      let latency = state.durations.get(route);
      if (latency === undefined) {
        latency = createHistogramSeries({ route }, LATENCY_BUCKETS);
        state.durations.set(route, latency);
      }
      observeHistogram(latency, LATENCY_BUCKETS, seconds);
      state.bytesByRoute.set(route, (state.bytesByRoute.get(route) ?? 0) + byteCount);
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
      state.cgiLive += 1;
      state.cgiStarted += 1;
    },
    onCgiExit(failed) {
      state.cgiLive = Math.max(0, state.cgiLive - 1);
      if (failed) state.cgiFailed += 1;
    },
    onStaticCacheLookup(hit) {
      if (hit) state.cacheHits += 1;
      else state.cacheMisses += 1;
    },
    watchUpstreams(source) {
      state.upstreams = source;
    },
    watchPeerLimits(source) {
      state.peerLimits = source;
    },
    peerLimits: () => state.peerLimits?.stats() ?? null,
    watchUpgrades(source) {
      state.upgrades = source;
    },
    upgrades: () => state.upgrades?.stats() ?? null,
    onFinished(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    inFlight: () => state.inFlight,
    eventLoopDelay: loop.read,
    text: async () => (await (registry ??= load())).metrics(),
    close() {
      loop.close();
      listeners.clear();
    },
  };
}
