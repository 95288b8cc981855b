/**
 * The cluster scrape, against the built app tier with two workers: whichever worker takes the
 * /metrics connection answers with the primary's aggregate of both, parsed by a real
 * Prometheus text parser.
 */
import t from 'tap';
import { parseMetrics, sampleSum, send, startAppTier } from '../helpers/app-tier.js';

interface WorkersReport {
  workers: { pid: number; uptimeSeconds: number; requests: number; rssBytes: number; ready: boolean }[];
  primaryPid: number | null;
  restarts: number;
  scope: string;
}

t.test('one scrape covers every worker, and its counters move after requests', async (t) => {
  const app = await startAppTier(t, { workers: 2 });
  const first = await send(`${app.url}/metrics`);
  t.equal(first.status, 200);
  t.match(first.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  const before = parseMetrics(first.text);
  t.equal(sampleSum(before, 'app_scrape_workers', { scope: 'cluster' }), 2, 'the primary aggregated both workers');
  const pids = (before.get('app_worker_resident_memory_bytes')?.metrics ?? []).map((sample) => Number(sample.labels?.['pid']));
  t.same(pids.sort(), [...app.workerPids].sort(), 'one RSS series per worker pid');
  for (const pid of app.workerPids) t.ok(sampleSum(before, 'app_worker_resident_memory_bytes', { pid: String(pid) }) > 10_000_000, `worker ${pid} reports its RSS`);
  t.equal(sampleSum(before, 'app_workers'), 2, 'the primary\'s own series are in the scrape');
  t.equal(sampleSum(before, 'app_worker_restarts_total'), 0);

  const answeredBy = new Set<number>();
  for (let index = 0; index < 10; index += 1) {
    const reply = await send(`${app.url}/api/echo`, { headers: { Connection: 'close' } });
    answeredBy.add(reply.json<{ worker: { pid: number } }>().worker.pid);
  }
  t.equal(answeredBy.size, 2, 'the requests reached both workers');
  const after = parseMetrics((await send(`${app.url}/metrics`)).text);
  const echoes = (families: typeof after): number => sampleSum(families, 'app_http_requests_total', { route: 'echo', method: 'GET', status: '200' });
  t.equal(echoes(after) - echoes(before), 10, 'the request counter summed over workers grew by exactly the requests sent');
  t.equal(sampleSum(after, 'app_http_requests_total', { route: 'metrics' }) - sampleSum(before, 'app_http_requests_total', { route: 'metrics' }), 1, 'the earlier scrape is counted');

  const workers = await send(`${app.url}/-/workers`);
  t.equal(workers.status, 200);
  const report = workers.json<WorkersReport>();
  t.equal(report.primaryPid, app.child.pid);
  t.equal(report.scope, 'cluster');
  t.same(report.workers.map((worker) => worker.pid).sort(), [...app.workerPids].sort());
  t.ok(report.workers.every((worker) => worker.ready && worker.rssBytes > 0 && worker.uptimeSeconds >= 0));
  t.ok(report.workers.reduce((sum, worker) => sum + worker.requests, 0) >= 12, 'requests counted per worker');

  const viaProxy = await send(`${app.url}/metrics`, { headers: { 'X-Forwarded-For': '198.51.100.7' } });
  t.equal(viaProxy.status, 404, 'not served to a client behind a proxy');
});

t.test('a worker killed with SIGKILL shows up as a crash restart; a reload as reload restarts', async (t) => {
  const app = await startAppTier(t, { workers: 2 });
  const [victim] = app.workerPids;
  if (victim === undefined) throw new Error('no worker pid');
  process.kill(victim, 'SIGKILL');
  await app.waitForLine((line) => line.msg === 'worker listening' && !app.workerPids.includes(line.pid ?? -1));
  const crashed = parseMetrics((await send(`${app.url}/metrics`)).text);
  t.equal(sampleSum(crashed, 'app_worker_restarts_total', { reason: 'crash' }), 1);
  t.equal(sampleSum(crashed, 'app_worker_restarts_total', { reason: 'reload' }), 0);
  t.notOk((crashed.get('app_worker_ready')?.metrics ?? []).some((sample) => sample.labels?.['pid'] === String(victim)), 'the dead worker is gone from the scrape');

  app.child.kill('SIGHUP');
  await app.waitForLine((line) => line.msg === 'reload finished');
  const report = (await send(`${app.url}/-/workers`)).json<WorkersReport>();
  t.equal(report.restarts, 3, 'one crash and two reload replacements');
  t.equal(report.workers.length, 2);
  const reloaded = parseMetrics((await send(`${app.url}/metrics`)).text);
  t.equal(sampleSum(reloaded, 'app_worker_restarts_total', { reason: 'reload' }), 2);
});
