import t from 'tap';
import { createServer } from 'node:http';
import { createWorkerFetcher, parseWorkersBody, workersUrl } from '../../../web-tier/operator/app-workers.js';
import { listen, startStubUpstream } from './harness.js';

t.test('reads /-/workers, keeps known fields, caches and shares one request', async (t) => {
  const upstream = await startStubUpstream(t, [11, 12, 13]);
  let now = 0;
  const fetcher = createWorkerFetcher({ cacheMs: 1_000, now: () => now });
  t.teardown(() => fetcher.close());
  const [first, second] = await Promise.all([fetcher.workersOf(upstream.url), fetcher.workersOf(upstream.url)]);
  t.equal(first, second);
  if (!first.ok) throw new Error(first.error);
  t.same(first.workers.map((worker) => worker.pid), [11, 12, 13]);
  t.equal(first.primaryPid, 4100);
  t.equal(first.restarts, 1);
  t.equal(first.workers[0]?.ready, true);
  t.equal(upstream.seen.filter((url) => url === '/-/workers').length, 1, 'concurrent askers shared one request');
  now = 999;
  await fetcher.workersOf(upstream.url);
  t.equal(upstream.seen.length, 1, 'still cached');
  now = 1_000;
  await fetcher.workersOf(upstream.url);
  t.equal(upstream.seen.length, 2, 'asked again once the cache expired');
});

t.test('a silent upstream costs at most the timeout; errors are reports, not throws', async (t) => {
  const silent = createServer(() => undefined);
  const silentUrl = await listen(t, silent);
  const missing = createServer((_req, res) => {
    res.writeHead(404);
    res.end();
  });
  const missingUrl = await listen(t, missing);
  const fetcher = createWorkerFetcher({ timeoutMs: 100 });
  t.teardown(() => fetcher.close());
  const started = Date.now();
  const report = await fetcher.workersOf(silentUrl);
  t.same(report, { ok: false, error: 'no answer within 100 ms' });
  t.ok(Date.now() - started < 2_000);
  t.same(await fetcher.workersOf(missingUrl), { ok: false, error: 'HTTP 404' });
  fetcher.close();
  t.same(await fetcher.workersOf(missingUrl), { ok: false, error: 'closed' });
});

t.test('close() aborts a request in flight', async (t) => {
  const silent = createServer(() => undefined);
  const url = await listen(t, silent);
  const fetcher = createWorkerFetcher({ timeoutMs: 30_000 });
  const pending = fetcher.workersOf(url);
  await new Promise<void>((resolve) => silent.once('request', () => resolve()));
  fetcher.close();
  const report = await pending;
  t.equal(report.ok, false);
});

t.test('parsing is forgiving about extra fields and strict about types', async (t) => {
  t.same(parseWorkersBody({ nope: true }), { ok: false, error: 'answer has no workers list' });
  t.same(parseWorkersBody({ workers: [], primaryPid: null, restarts: 0, scope: 'worker' }), { ok: true, workers: [], restarts: 0, scope: 'worker' }, 'pm2: no primary');
  t.same(parseWorkersBody({ workers: [{ pid: 1, rssBytes: '9', extra: 1 }, { pid: 'x' }, null], restarts: 'many' }), { ok: true, workers: [{ pid: 1 }] });
  t.equal(workersUrl('http://10.0.0.2:3000').href, 'http://10.0.0.2:3000/-/workers');
  t.equal(workersUrl('http://10.0.0.2:3000/app/').href, 'http://10.0.0.2:3000/app/-/workers', 'the base path is kept, as the proxy keeps it');
});

t.test('the request names the upstream as Host; a 421 (Host not an operator name on the app box) says what to set', async (t) => {
  const hosts: (string | undefined)[] = [];
  const misdirected = createServer((req, res) => {
    hosts.push(req.headers.host);
    res.writeHead(421, { 'Content-Type': 'application/json' });
    res.end('{"error":{"code":"APP_ERR_MISDIRECTED"}}');
  });
  const url = await listen(t, misdirected);
  const fetcher = createWorkerFetcher({ timeoutMs: 5_000 });
  t.teardown(() => fetcher.close());
  const report = await fetcher.workersOf(url);
  t.equal(report.ok, false);
  t.match(report, { error: /^HTTP 421: .*127\.0\.0\.1.*APP_OPERATOR_HOSTS/ });
  t.same(hosts, [new URL(url).host], 'Host is the upstream URL\'s authority (an IP literal here, which the app tier accepts)');
});
