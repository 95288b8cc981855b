/**
 * One scrape for the whole cluster. A worker that receives GET /metrics or /-/workers asks the
 * primary over IPC; the primary asks every connected worker for its registry
 * (getMetricsAsJSON) and summary, merges them with its own series with prom-client's
 * AggregatorRegistry.aggregate, and answers the asking worker. prom-client's own
 * clusterMetrics() is not used: it fails the whole scrape when one worker (a new one still
 * starting, an old one exiting during a reload) does not answer, and it cannot carry the
 * primary's own counters or the /-/workers summaries.
 *
 * Without a primary (pm2 cluster mode, a single process) a worker answers from its own
 * registry, and the scrape says so (`app_scrape_workers{scope="worker"}` and a comment).
 */
import type { Cluster, Worker } from 'node:cluster';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import { registerMetricTable } from '../common/metric-table.js';
import type { WorkerMetrics, WorkerSummary, WorkersReport } from './metrics.js';

export type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** What the operator endpoints read from: the cluster (through the primary) or this worker alone. */
export interface OperatorSource {
  /** Prometheus text exposition. */
  metrics(): Promise<string>;
  workers(): Promise<WorkersReport>;
}

type Kind = 'metrics' | 'workers';
interface AskMessage { readonly twotier: 'operator-ask'; readonly id: number; readonly kind: Kind }
interface AnswerMessage { readonly twotier: 'operator-answer'; readonly id: number; readonly body?: string; readonly error?: string }
/** `withMetrics: false` for /-/workers: the summary alone, without serialising every series. */
interface CollectMessage { readonly twotier: 'collect'; readonly id: number; readonly withMetrics: boolean }
interface CollectedMessage { readonly twotier: 'collected'; readonly id: number; readonly metrics: MetricsJson; readonly summary: WorkerSummary }

function isMessage<T extends { twotier: string }>(value: unknown, type: T['twotier']): value is T {
  return typeof value === 'object' && value !== null && (value as { twotier?: unknown }).twotier === type;
}

/** `app_scrape_workers{scope}`: how many workers' series this scrape holds, and whose. */
async function withScope(registry: Registry, scope: 'cluster' | 'worker', workers: number): Promise<string> {
  const extra = new Registry();
  registerMetricTable({ Counter, Gauge }, extra, [{
    name: 'app_scrape_workers', type: 'gauge', labels: ['scope'],
    help: 'Workers whose series this scrape holds; scope="cluster" is the primary\'s aggregate of all workers, scope="worker" is one worker alone (no primary, e.g. pm2 cluster mode: scrape every instance).',
    source: () => [[{ scope }, workers]],
  }]);
  return Registry.merge([registry, extra]).metrics();
}

/** A worker without a primary answers for itself. */
export function createLocalSource(metrics: WorkerMetrics): OperatorSource {
  return {
    async metrics() {
      const text = await withScope(metrics.registry, 'worker', 1);
      return `# twotier: worker ${metrics.pid} alone, not a cluster aggregate (no app-tier primary)\n${text}`;
    },
    async workers() {
      return { workers: [metrics.summary()], primaryPid: null, restarts: 0, scope: 'worker' };
    },
  };
}

/** The IPC channel to the primary: `process` in a worker, a fake in tests. */
export interface Channel {
  send(message: unknown): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

export interface ClusterSourceOptions {
  readonly channel: Channel;
  readonly metrics: WorkerMetrics;
  /** How long the worker waits for the primary's aggregate before answering 503. */
  readonly timeoutMs?: number;
}

/** A worker under our primary: answers the primary's collect requests, and asks it for the aggregate. */
export function createClusterSource(options: ClusterSourceOptions): OperatorSource & { close(): void } {
  const { channel, metrics } = options;
  const timeoutMs = options.timeoutMs ?? 3_000;
  const pending = new Map<number, { resolve: (body: string) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  let nextId = 0;

  const onMessage = (message: unknown): void => {
    if (isMessage<CollectMessage>(message, 'collect')) {
      const json = message.withMetrics === false ? Promise.resolve([]) : metrics.registry.getMetricsAsJSON();
      void json.then((json) => {
        const reply: CollectedMessage = { twotier: 'collected', id: message.id, metrics: json, summary: metrics.summary() };
        channel.send(reply);
      }, () => undefined); // a collect callback that throws: the primary leaves this worker out after its timeout
    } else if (isMessage<AnswerMessage>(message, 'operator-answer')) {
      const waiter = pending.get(message.id);
      if (waiter === undefined) return;
      pending.delete(message.id);
      clearTimeout(waiter.timer);
      if (message.body !== undefined) waiter.resolve(message.body);
      else waiter.reject(new Error(message.error ?? 'the primary gave no answer'));
    }
  };
  channel.on('message', onMessage);

  function ask(kind: Kind): Promise<string> {
    nextId += 1;
    const id = nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`the app-tier primary did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, { resolve, reject, timer });
      const message: AskMessage = { twotier: 'operator-ask', id, kind };
      channel.send(message);
    });
  }

  return {
    metrics: () => ask('metrics'),
    workers: async () => JSON.parse(await ask('workers')) as WorkersReport,
    close() {
      channel.off('message', onMessage);
      for (const waiter of pending.values()) {
        clearTimeout(waiter.timer);
        waiter.reject(new Error('closing'));
      }
      pending.clear();
    },
  };
}

export interface PrimaryMetrics {
  readonly registry: Registry;
  workerRestarted(reason: 'crash' | 'reload'): void;
  restarts(): number;
}

export function createPrimaryMetrics(options: { workersAlive: () => number }): PrimaryMetrics {
  const registry = new Registry();
  // Both series exist from the start, so rate() has a baseline before the first restart.
  const restarts = { crash: 0, reload: 0 };
  registerMetricTable({ Counter, Gauge }, registry, [
    {
      name: 'app_worker_restarts_total', type: 'counter', labels: ['reason'],
      help: 'Workers the primary replaced: reason="crash" after an unplanned exit, reason="reload" in a rolling reload.',
      source: () => [[{ reason: 'crash' }, restarts.crash], [{ reason: 'reload' }, restarts.reload]],
    },
    { name: 'app_workers', type: 'gauge', help: 'Worker processes alive under the primary (new and retiring ones included during a reload).', source: options.workersAlive },
  ]);
  return {
    registry,
    workerRestarted(reason) {
      restarts[reason] += 1;
    },
    restarts: () => restarts.crash + restarts.reload,
  };
}

export interface ClusterAggregatorOptions {
  readonly cluster: Cluster;
  readonly primary: PrimaryMetrics;
  /** A worker that does not answer within this is left out of the scrape. */
  readonly collectTimeoutMs?: number;
}

/** The primary's side: answers workers' operator-ask messages with the cluster aggregate. */
export function createClusterAggregator(options: ClusterAggregatorOptions): { close(): void } {
  const { cluster, primary } = options;
  const collectTimeoutMs = options.collectTimeoutMs ?? 2_000;
  const waiting = new Map<number, Map<Worker, (message: CollectedMessage | undefined) => void>>();
  let nextId = 0;

  function collect(withMetrics: boolean): Promise<CollectedMessage[]> {
    nextId += 1;
    const id = nextId;
    const workers = Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined && worker.isConnected());
    const byWorker = new Map<Worker, (message: CollectedMessage | undefined) => void>();
    waiting.set(id, byWorker);
    const answers = workers.map((worker) => new Promise<CollectedMessage | undefined>((resolve) => {
      const timer = setTimeout(() => done(undefined), collectTimeoutMs);
      const onExit = (): void => done(undefined);
      function done(message: CollectedMessage | undefined): void {
        clearTimeout(timer);
        worker.off('exit', onExit);
        byWorker.delete(worker);
        resolve(message);
      }
      worker.once('exit', onExit);
      byWorker.set(worker, done);
      const request: CollectMessage = { twotier: 'collect', id, withMetrics };
      // A callback, so a channel that closed since isConnected() is reported here, not as an
      // 'error' event on the worker's ChildProcess (which nothing else handles).
      worker.send(request, undefined, undefined, (error: Error | null) => {
        if (error !== null) done(undefined);
      });
    }));
    return Promise.all(answers).then((replies) => {
      waiting.delete(id);
      return replies.filter((reply): reply is CollectedMessage => reply !== undefined);
    });
  }

  async function answer(kind: Kind): Promise<string> {
    const replies = await collect(kind === 'metrics');
    if (kind === 'workers') {
      const report: WorkersReport = {
        workers: replies.map((reply) => reply.summary).sort((a, b) => a.pid - b.pid),
        primaryPid: process.pid,
        restarts: primary.restarts(),
        scope: 'cluster',
      };
      return JSON.stringify(report);
    }
    const own = await primary.registry.getMetricsAsJSON();
    const aggregate = AggregatorRegistry.aggregate<typeof METRICS_CONTENT_TYPE>([...replies.map((reply) => reply.metrics), own]);
    return withScope(aggregate, 'cluster', replies.length);
  }

  const onMessage = (worker: Worker, message: unknown): void => {
    if (isMessage<CollectedMessage>(message, 'collected')) {
      waiting.get(message.id)?.get(worker)?.(message);
    } else if (isMessage<AskMessage>(message, 'operator-ask')) {
      const reply = (body: string | undefined, error?: string): void => {
        if (!worker.isConnected()) return;
        const out: AnswerMessage = body === undefined ? { twotier: 'operator-answer', id: message.id, error: error ?? 'failed' } : { twotier: 'operator-answer', id: message.id, body };
        worker.send(out, undefined, undefined, () => undefined);
      };
      answer(message.kind).then((body) => reply(body), (error: unknown) => reply(undefined, (error as Error).message));
    }
  };
  cluster.on('message', onMessage);
  return {
    close() {
      cluster.off('message', onMessage);
      for (const byWorker of waiting.values()) for (const done of byWorker.values()) done(undefined);
    },
  };
}
