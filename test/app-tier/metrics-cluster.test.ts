/**
 * The IPC protocol between workers and the primary, with fakes for node:cluster and the
 * worker's process channel, so the edge cases (a worker that never answers, one that exits
 * mid-scrape, a primary that never answers) run in one process without timing luck.
 */
import t, { type Test } from 'tap';
import type { Cluster } from 'node:cluster';
import { EventEmitter } from 'node:events';
import { createWorkerMetrics, type WorkerMetrics, type WorkersReport } from '../../app-tier/metrics.js';
import { createClusterAggregator, createClusterSource, createPrimaryMetrics, type Channel } from '../../app-tier/metrics-cluster.js';
import { parseMetrics, sampleSum } from '../helpers/app-tier.js';

/** A worker as the primary sees it, wired to a worker-side channel in the same process. */
class FakeWorker extends EventEmitter {
  readonly toWorker = new EventEmitter();
  connected = true;
  readonly sent: unknown[] = [];
  constructor(readonly cluster: FakeCluster, readonly pid: number, readonly mode: 'answers' | 'silent') {
    super();
  }
  isConnected(): boolean {
    return this.connected;
  }
  send(message: unknown): boolean {
    this.sent.push(message);
    if (this.mode === 'answers') setImmediate(() => this.toWorker.emit('message', message));
    return true;
  }
  /** The worker-side channel: what the worker sends reaches the primary as cluster 'message'. */
  channel(): Channel {
    return {
      send: (message) => {
        setImmediate(() => this.cluster.emit('message', this, message));
        return true;
      },
      on: (event, listener) => this.toWorker.on(event, listener),
      off: (event, listener) => this.toWorker.off(event, listener),
    };
  }
}

class FakeCluster extends EventEmitter {
  workers: Record<string, FakeWorker> = {};
}

function workerMetrics(t: Test, pid: number): WorkerMetrics {
  const metrics = createWorkerMetrics({ pid, isReady: () => true, rss: () => pid * 1000 });
  t.teardown(() => metrics.close());
  metrics.requestStarted();
  metrics.requestFinished({ route: 'echo', method: 'GET', status: 200, seconds: 0.002, requestBytes: 0, responseBytes: 100 });
  return metrics;
}

t.test('the primary aggregates the workers that answer; a silent one is left out after the timeout', async (t) => {
  const cluster = new FakeCluster();
  const a = new FakeWorker(cluster, 101, 'answers');
  const b = new FakeWorker(cluster, 102, 'answers');
  const silent = new FakeWorker(cluster, 103, 'silent');
  cluster.workers = { 1: a, 2: b, 3: silent };
  const primary = createPrimaryMetrics({ workersAlive: () => 3 });
  primary.workerRestarted('crash');
  const aggregator = createClusterAggregator({ cluster: cluster as unknown as Cluster, primary, collectTimeoutMs: 50 });
  t.teardown(() => aggregator.close());
  const sourceA = createClusterSource({ channel: a.channel(), metrics: workerMetrics(t, 101) });
  const sourceB = createClusterSource({ channel: b.channel(), metrics: workerMetrics(t, 102) });
  t.teardown(() => { sourceA.close(); sourceB.close(); });

  const families = parseMetrics(await sourceA.metrics());
  t.equal(sampleSum(families, 'app_http_requests_total', { route: 'echo' }), 2, 'counters summed over the workers that answered');
  t.equal(sampleSum(families, 'app_scrape_workers', { scope: 'cluster' }), 2);
  t.same((families.get('app_worker_resident_memory_bytes')?.metrics ?? []).map((sample) => sample.labels?.['pid']).sort(), ['101', '102']);
  t.equal(sampleSum(families, 'app_worker_restarts_total', { reason: 'crash' }), 1, 'the primary\'s own counter is merged in');
  t.equal(sampleSum(families, 'app_workers'), 3);

  const collects = (): unknown[] => a.sent.filter((message) => (message as { twotier?: string }).twotier === 'collect');
  t.match(collects().at(-1), { twotier: 'collect', withMetrics: true });
  const report: WorkersReport = await sourceB.workers();
  t.match(collects().at(-1), { twotier: 'collect', withMetrics: false }, '/-/workers asks for summaries only');
  t.match(report, { primaryPid: process.pid, restarts: 1, scope: 'cluster' });
  t.same(report.workers.map((worker) => [worker.pid, worker.requests, worker.rssBytes]), [[101, 1, 101_000], [102, 1, 102_000]]);
});

t.test('a worker that exits mid-scrape does not hold it up; a disconnected one is not asked', async (t) => {
  const cluster = new FakeCluster();
  const a = new FakeWorker(cluster, 201, 'answers');
  const dying = new FakeWorker(cluster, 202, 'silent');
  const gone = new FakeWorker(cluster, 203, 'answers');
  gone.connected = false;
  cluster.workers = { 1: a, 2: dying, 3: gone };
  const aggregator = createClusterAggregator({ cluster: cluster as unknown as Cluster, primary: createPrimaryMetrics({ workersAlive: () => 1 }), collectTimeoutMs: 60_000 });
  t.teardown(() => aggregator.close());
  const source = createClusterSource({ channel: a.channel(), metrics: workerMetrics(t, 201) });
  t.teardown(() => source.close());
  const answer = source.workers();
  setImmediate(() => setImmediate(() => dying.emit('exit', 0, null)));
  t.same((await answer).workers.map((worker) => worker.pid), [201]);
});

t.test('no answer from the primary rejects within the bound (the endpoint then says 503)', async (t) => {
  const channel: Channel = { send: () => true, on: () => undefined, off: () => undefined };
  const source = createClusterSource({ channel, metrics: workerMetrics(t, 301), timeoutMs: 30 });
  t.teardown(() => source.close());
  await t.rejects(source.metrics(), /did not answer within 30 ms/);
});
