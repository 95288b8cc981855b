/**
 * One worker's metrics (prom-client): every series lives in a registry of its own (not the
 * global one), so tests can run several side by side and the primary can aggregate them.
 * Series that describe the process itself carry a `pid` label, so the cluster aggregate keeps
 * one series per worker instead of summing them into a meaningless total.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { registerMetricTable } from '../common/metric-table.js';

/** One worker as `/-/workers` shows it. */
export interface WorkerSummary {
  readonly pid: number;
  readonly uptimeSeconds: number;
  /** Requests answered (every route, operator endpoints included) since the worker started. */
  readonly requests: number;
  readonly rssBytes: number;
  /** Listening and not draining: what its /readyz says. */
  readonly ready: boolean;
}

/** The `/-/workers` answer. */
export interface WorkersReport {
  readonly workers: readonly WorkerSummary[];
  /** The cluster primary; null when the worker runs without one (pm2 cluster mode, a single process). */
  readonly primaryPid: number | null;
  /** Workers the primary replaced (crashes and reloads) since it started. */
  readonly restarts: number;
  /** "cluster": every worker of this app tier; "worker": this process only (no primary to ask). */
  readonly scope: 'cluster' | 'worker';
}

export interface RequestObservation {
  /** The route name (from the app's URL table), or a fixed word for what no route matched. */
  readonly route: string;
  readonly method: string;
  readonly status: number;
  readonly seconds: number;
  /** The request body's length. */
  readonly requestBytes: number;
  /** What was written to the socket for the response, head included. */
  readonly responseBytes: number;
}

export interface WorkerMetrics {
  readonly registry: Registry;
  readonly pid: number;
  requestStarted(): void;
  requestFinished(observation: RequestObservation): void;
  /** A store call that failed; `code` is the error's code (STORE_UNAVAILABLE, …) or "other". */
  storeError(operation: string, code: string): void;
  summary(): WorkerSummary;
  /** Stops the event-loop monitor. */
  close(): void;
}

export interface WorkerMetricsOptions {
  readonly pid?: number;
  /** What /readyz says now. */
  readonly isReady: () => boolean;
  /** Resident set size in bytes; process.memoryUsage.rss by default (tests pin it). */
  readonly rss?: () => number;
}

/** Methods outside this list share one label value: a client must not be able to mint series. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** perf_hooks samples the loop this often; the delay beyond it is the lag. */
const LOOP_RESOLUTION_MS = 10;

/** Seconds; from a fast cached page (~1 ms) to a slow write. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function methodLabel(method: string | undefined): string {
  return method !== undefined && METHODS.has(method) ? method : 'other';
}

export function createWorkerMetrics(options: WorkerMetricsOptions): WorkerMetrics {
  const pid = options.pid ?? process.pid;
  const rss = options.rss ?? (() => process.memoryUsage.rss());
  const startedAt = performance.now();
  const registry = new Registry();
  const registers = [registry];
  let answered = 0;

  const requests = new Counter({ name: 'app_http_requests_total', help: 'Requests answered by the app tier, by route name, method and status.', labelNames: ['route', 'method', 'status'], registers });
  const duration = new Histogram({ name: 'app_http_request_duration_seconds', help: 'Time from the request head to the last response byte handed to the socket.', labelNames: ['route', 'method'], buckets: LATENCY_BUCKETS, registers });
  const inFlight = new Gauge({ name: 'app_http_requests_in_flight', help: 'Requests received and not yet answered.', registers });
  const requestBytes = new Counter({ name: 'app_http_request_body_bytes_total', help: 'Request body bytes received, by route name.', labelNames: ['route'], registers });
  const responseBytes = new Counter({ name: 'app_http_response_bytes_total', help: 'Response bytes written to the socket (head and body), by route name.', labelNames: ['route'], registers });
  const storeErrors = new Counter({ name: 'app_store_errors_total', help: 'Store calls that failed, by operation and error code (STORE_CONFLICT is a taken slug, not an outage).', labelNames: ['operation', 'code'], registers });

  const loop: IntervalHistogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  loop.enable();
  const pidLabel = { pid: String(pid) };
  // Read at scrape time, one series per process: the cluster aggregate keeps them apart by pid.
  registerMetricTable({ Counter, Gauge }, registry, [
    {
      name: 'app_event_loop_lag_seconds', type: 'gauge', labels: ['pid'],
      help: `p99 of how late the event loop ran a ${LOOP_RESOLUTION_MS} ms timer, since the previous scrape.`,
      source: () => {
        const p99 = loop.count > 0 ? loop.percentile(99) / 1e6 - LOOP_RESOLUTION_MS : 0;
        loop.reset();
        return [[pidLabel, Math.max(0, p99) / 1e3]];
      },
    },
    { name: 'app_worker_resident_memory_bytes', type: 'gauge', labels: ['pid'], help: 'Resident set size of the worker process.', source: () => [[pidLabel, rss()]] },
    { name: 'app_worker_uptime_seconds', type: 'gauge', labels: ['pid'], help: 'Seconds since the worker started.', source: () => [[pidLabel, uptimeSeconds()]] },
    { name: 'app_worker_ready', type: 'gauge', labels: ['pid'], help: '1 while the worker takes requests (its /readyz says 200), 0 while starting or draining.', source: () => [[pidLabel, options.isReady() ? 1 : 0]] },
  ]);

  function uptimeSeconds(): number {
    return Math.round((performance.now() - startedAt) / 10) / 100;
  }

  return {
    registry,
    pid,
    requestStarted() {
      inFlight.inc();
    },
    requestFinished(observation) {
      answered += 1;
      inFlight.dec();
      const method = methodLabel(observation.method);
      requests.inc({ route: observation.route, method, status: String(observation.status) });
      duration.observe({ route: observation.route, method }, observation.seconds);
      requestBytes.inc({ route: observation.route }, observation.requestBytes);
      responseBytes.inc({ route: observation.route }, observation.responseBytes);
    },
    storeError(operation, code) {
      storeErrors.inc({ operation, code });
    },
    summary() {
      return { pid, uptimeSeconds: uptimeSeconds(), requests: answered, rssBytes: rss(), ready: options.isReady() };
    },
    close() {
      loop.disable();
    },
  };
}
