import t, { type Test } from 'tap';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../../common/logger.js';
import type { AppResponse, Application } from '../../common/app-interface.js';
import { DEFAULTS } from '../../app-tier/config.js';
import { createWorkerMetrics, type WorkerMetrics, type WorkersReport } from '../../app-tier/metrics.js';
import { createLocalSource } from '../../app-tier/metrics-cluster.js';
import { createRouteNamer } from '../../app-tier/metrics-routes.js';
import { instrumentStore } from '../../app-tier/metrics-store.js';
import { createOperatorEndpoints } from '../../app-tier/operator.js';
import { createOperatorAccess } from '../../app-tier/operator-access.js';
import { StoreConflictError, StoreUnavailableError, type Store } from '../../app-tier/store/types.js';
import { createWorkerServer, type WorkerServer } from '../../app-tier/worker.js';
import { createMemoryStore } from '../helpers/memory-store.js';
import { parseMetrics, sampleSum } from '../helpers/app-tier.js';

interface Reply { status: number; headers: IncomingHttpHeaders; text: string }

function get(address: AddressInfo, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: address.address, port: address.port, path, method: options.method ?? 'GET', headers: options.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const app: Application = {
  async handle(request): Promise<AppResponse> {
    if (request.target.startsWith('/api/articles/')) return { status: 201, headers: {}, body: 'x'.repeat(100) };
    return { status: 404, headers: {}, body: 'nothing here' };
  },
  async close() {},
};

async function start(t: Test, allow: readonly string[] = []): Promise<{ address: AddressInfo; metrics: WorkerMetrics; worker: WorkerServer }> {
  let worker: WorkerServer | undefined;
  const metrics = createWorkerMetrics({ isReady: () => worker?.state === 'ready', rss: () => 12_345_678 });
  worker = createWorkerServer({
    config: { ...DEFAULTS, port: 0 },
    logger: createLogger({ tier: 'app', level: 'silent' }),
    app,
    metrics,
    operator: createOperatorEndpoints({ allow, source: createLocalSource(metrics) }),
    routeOf: createRouteNamer({ faultRoutes: false }),
  });
  const address = await worker.listen();
  const server = worker;
  t.teardown(async () => {
    await server.close();
    metrics.close();
  });
  return { address, metrics, worker };
}

t.test('counters, histogram, bytes and in-flight move after requests; labels are route names', async (t) => {
  const { address } = await start(t);
  const before = parseMetrics((await get(address, '/metrics')).text);
  t.equal(sampleSum(before, 'app_http_requests_total', { route: 'api-articles' }), 0);

  const body = JSON.stringify({ title: 'x' });
  for (let index = 0; index < 3; index += 1) {
    t.equal((await get(address, '/api/articles/', { method: 'POST', body, headers: { 'Content-Type': 'application/json' } })).status, 201);
  }
  await get(address, '/no/such/page');
  await get(address, '/api/articles/7/', { method: 'PURGE' });

  const scrape = await get(address, '/metrics');
  t.equal(scrape.status, 200);
  t.match(scrape.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  const after = parseMetrics(scrape.text);
  t.equal(sampleSum(after, 'app_http_requests_total', { route: 'api-articles', method: 'POST', status: '201' }), 3, 'a counter per route name, method, status');
  t.equal(sampleSum(after, 'app_http_requests_total', { route: 'not-found', method: 'GET', status: '404' }), 1, 'an unmatched path is labelled by the router decision, not by its text');
  t.equal(sampleSum(after, 'app_http_requests_total', { route: 'method-not-allowed', method: 'other' }), 1, 'an unknown method mints no new label value');
  t.equal(sampleSum(after, 'app_http_requests_total', { route: 'metrics' }), 1, 'the first scrape is counted too');
  t.equal(sampleSum(after, 'app_http_request_body_bytes_total', { route: 'api-articles' }), 3 * body.length);
  t.ok(sampleSum(after, 'app_http_response_bytes_total', { route: 'api-articles' }) > 300, 'head and body bytes');
  t.equal(sampleSum(after, 'app_http_requests_in_flight'), 1, 'the scrape itself is in flight');
  const histogram = after.get('app_http_request_duration_seconds');
  t.equal(histogram?.type, 'HISTOGRAM');
  // parse-prometheus-text-format keeps a histogram's buckets but drops its labels: read the count line.
  t.match(scrape.text, /^app_http_request_duration_seconds_count\{route="api-articles",method="POST"\} 3$/m, 'every request is observed');
  t.equal(sampleSum(after, 'app_worker_resident_memory_bytes', { pid: String(process.pid) }), 12_345_678);
  t.equal(sampleSum(after, 'app_worker_ready', { pid: String(process.pid) }), 1);
  t.ok(after.has('app_event_loop_lag_seconds'));
  t.equal(sampleSum(after, 'app_scrape_workers', { scope: 'worker' }), 1, 'a worker alone says so in a label');
  t.match(scrape.text, /^# twotier: worker \d+ alone/);
});

t.test('/-/workers without a primary: this worker only', async (t) => {
  const { address } = await start(t);
  await get(address, '/healthz');
  const reply = await get(address, '/-/workers');
  t.equal(reply.status, 200);
  const report = JSON.parse(reply.text) as WorkersReport;
  t.match(report, { primaryPid: null, restarts: 0, scope: 'worker' });
  t.equal(report.workers.length, 1);
  t.match(report.workers[0], { pid: process.pid, requests: 1, rssBytes: 12_345_678, ready: true });
  t.type(report.workers[0]?.uptimeSeconds, 'number');
  const post = await get(address, '/-/workers', { method: 'POST' });
  t.equal(post.status, 405);
  t.equal(post.headers.allow, 'GET, HEAD');
});

t.test('operator endpoints refuse forwarded requests and peers outside the allow list', async (t) => {
  const { address } = await start(t);
  const forwarded = await get(address, '/metrics', { headers: { 'X-Forwarded-For': '203.0.113.9' } });
  t.equal(forwarded.status, 404, 'a request that came through the web tier is not the operator');
  t.notMatch(forwarded.text, /app_http/);
  t.equal((await get(address, '/-/workers', { headers: { Forwarded: 'for=203.0.113.9' } })).status, 404);

  const access = createOperatorAccess(['10.1.0.0/16', '192.0.2.7', 'fd00::/8']);
  const peer = (remoteAddress: string, headers: Record<string, string> = {}) => access({ remoteAddress, headers });
  t.ok(peer('127.0.0.1'));
  t.ok(peer('127.3.4.5'), 'all of 127/8');
  t.ok(peer('::1'));
  t.ok(peer('::ffff:127.0.0.1'), 'IPv4-mapped loopback');
  t.ok(peer('10.1.200.3'));
  t.ok(peer('::ffff:10.1.2.3'), 'IPv4-mapped address inside an allowed block');
  t.notOk(peer('10.2.0.1'));
  t.ok(peer('192.0.2.7'));
  t.notOk(peer('192.0.2.8'));
  t.ok(peer('fd12::1'));
  t.notOk(peer('2001:db8::1'));
  t.notOk(peer('10.1.0.1', { 'x-forwarded-for': '10.1.0.1' }));
  t.notOk(createOperatorAccess([])({ remoteAddress: '192.168.1.10', headers: {} }), 'loopback only by default');
  t.throws(() => createOperatorAccess(['not-an-ip']), TypeError);
});

t.test('store errors are counted by operation and code, and still thrown', async (t) => {
  const metrics = createWorkerMetrics({ isReady: () => true });
  t.teardown(() => metrics.close());
  const memory = createMemoryStore();
  const failing: Store = {
    ...memory,
    countArticles: async () => { throw new StoreUnavailableError('database is locked'); },
    createArticle: async () => { throw new StoreConflictError('slug', 'taken'); },
    archive: async () => { throw new Error('no code'); },
  };
  const store = instrumentStore(failing, (operation, code) => metrics.storeError(operation, code));
  await t.rejects(store.countArticles(), { code: 'STORE_UNAVAILABLE' });
  await t.rejects(store.countArticles(), { code: 'STORE_UNAVAILABLE' });
  await t.rejects(store.createArticle({ title: 'a', body: '' }), { code: 'STORE_CONFLICT' });
  await t.rejects(store.archive(), /no code/);
  t.same(await store.listArticles({ limit: 1, offset: 0 }), await memory.listArticles({ limit: 1, offset: 0 }), 'calls that succeed pass through');
  const families = parseMetrics(await metrics.registry.metrics());
  t.equal(sampleSum(families, 'app_store_errors_total', { operation: 'countArticles', code: 'STORE_UNAVAILABLE' }), 2);
  t.equal(sampleSum(families, 'app_store_errors_total', { operation: 'createArticle', code: 'STORE_CONFLICT' }), 1);
  t.equal(sampleSum(families, 'app_store_errors_total', { operation: 'archive', code: 'other' }), 1);
  t.equal(sampleSum(families, 'app_store_errors_total', { operation: 'listArticles' }), 0);
});

t.test('readiness and in-flight follow the worker: draining reads 0', async (t) => {
  const { address, metrics, worker } = await start(t);
  t.equal(metrics.summary().ready, true);
  t.equal((await get(address, '/healthz')).status, 200);
  const closed = worker.close();
  t.equal(metrics.summary().ready, false);
  await closed;
  const families = parseMetrics(await metrics.registry.metrics());
  t.equal(sampleSum(families, 'app_worker_ready'), 0);
  t.equal(sampleSum(families, 'app_http_requests_in_flight'), 0);
});
