import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WebConfig } from '../../../web-tier/config.js';
import type { OperatorConfig, StatusSnapshot } from '../../../web-tier/operator/status-data.js';
import { createStatusSource, derivePlacement } from '../../../web-tier/operator/status-data.js';
import { createWebMetrics } from '../../../web-tier/operator/metrics.js';
import { isLoopback, isOperatorPath } from '../../../web-tier/operator/handler.js';
import { startHarness, startStubUpstream } from './harness.js';

// Compile-time only (tsc in npm test): the operator's view is typed from the config's own sections.
const configIsOperatorConfig = (config: WebConfig): OperatorConfig => ({ dynamic: config.server.dynamic, upstreams: config.proxy.upstreams });
void configIsOperatorConfig;

async function statusJson(url: string): Promise<StatusSnapshot> {
  const response = await fetch(`${url}/-/status.json`);
  if (response.status !== 200) throw new Error(`status.json answered ${response.status}`);
  return (await response.json()) as StatusSnapshot;
}

function benchDir(t: { teardown(fn: () => unknown): void }, content: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-operator-bench-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'latest.json'), typeof content === 'string' ? content : JSON.stringify(content));
  return dir;
}

const BENCH = {
  startedAt: '2026-11-25T10:00:00.000Z',
  commit: 'abc1234def5678',
  machine: { node: 'v20.20.2', cpuModel: 'Test CPU' },
  scenarios: [
    { name: 'static', status: 'ok', rps: 12000.4, latencyMs: { p99: 3.2 }, peakRssMiB: 80 },
    { name: 'cgi', status: 'ok', rps: 95, latencyMs: { p99: 120 }, peakRssMiB: 300 },
    { name: 'nginx', status: 'skipped', rps: 0 },
  ],
};

t.test('status.json: placement, upstreams with workers, traffic, recent errors with ids, bench', async (t) => {
  const one = await startStubUpstream(t, [201, 202]);
  const two = await startStubUpstream(t, [301]);
  const harness = await startHarness(t, { upstreams: [one.url, two.url], operator: { benchResultsDir: benchDir(t, BENCH) } });
  for (const path of ['/api/a', '/api/boom', '/api/b', '/style.css']) await (await fetch(`${harness.url}${path}?secret=1`)).arrayBuffer();
  const boomId = harness.requestIds[1];

  const status = await statusJson(harness.url);
  t.match(status.generatedAt, /^\d{4}-\d\d-\d\dT/);
  t.same(status.placement, { name: 'single-box', dynamic: 'proxy', appHosts: ['127.0.0.1'] });
  t.equal(status.web.pid, process.pid);
  t.equal(status.web.dynamic, 'proxy');
  t.equal(status.web.inFlight, 1, 'the status request itself');
  t.type(status.web.eventLoopDelayMs.p99Ms, 'number');
  t.same(status.upstreams.map((upstream) => [upstream.url, upstream.healthy]), [[one.url, true], [two.url, true]]);
  const [first, second] = status.upstreams;
  t.ok(first?.workers.ok && first.workers.workers.length === 2);
  t.ok(second?.workers.ok && second.workers.workers[0]?.pid === 301);
  t.equal(status.traffic.requests, 4);
  t.equal(status.traffic.errors, 1);
  t.equal(status.traffic.errorRate, 0.25);
  t.equal(status.traffic.perSecond.length, 60);
  t.equal(status.recentErrors.length, 1);
  t.match(status.recentErrors[0], { requestId: boomId, status: 500, method: 'GET', path: '/api/boom', route: 'app', upstream: two.url }, 'round-robin sent it to the second');
  t.notMatch(JSON.stringify(status.recentErrors), /secret/, 'no query string on the page');
  t.match(status.bench, { startedAt: BENCH.startedAt, commit: BENCH.commit, node: 'v20.20.2' });
  t.same(status.bench !== null && 'rows' in status.bench ? status.bench.rows.map((row) => row.name) : [], ['static', 'cgi', 'nginx']);
  t.match(status.bench, { rows: [{ name: 'static', rps: 12000.4, p99Ms: 3.2, peakRssMiB: 80 }] });

  const again = await statusJson(harness.url);
  t.equal(again.traffic.requests, 5, 'the first status.json request is counted too');
});

t.test('without a proxy: no upstreams, a derived placement, no bench file → null', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-operator-nobench-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const harness = await startHarness(t, { operator: { benchResultsDir: dir } });
  const status = await statusJson(harness.url);
  t.same(status.upstreams, []);
  t.equal(status.placement.name, 'single-process (embedded)');
  t.equal(status.bench, null);
});

t.test('the derived placement follows a config whose upstreams change (reload)', async (t) => {
  const metrics = createWebMetrics();
  t.teardown(() => metrics.close());
  let upstreams = ['http://127.0.0.1:3000'];
  const source = createStatusSource({ config: { dynamic: 'proxy', get upstreams() { return upstreams; } }, metrics });
  t.teardown(() => source.close());
  t.equal((await source.snapshot()).placement.name, 'single-box');
  upstreams = ['http://198.18.0.2:3000'];
  t.equal((await source.snapshot()).placement.name, 'multi-box');
});

t.test('a given placement is shown as is; a broken bench file is an error entry, not a failure', async (t) => {
  const harness = await startHarness(t, { operator: { placement: { name: 'multi-box', webBox: 'edge-1' }, benchResultsDir: benchDir(t, '{ not json') } });
  const status = await statusJson(harness.url);
  t.same(status.placement, { name: 'multi-box', webBox: 'edge-1' });
  t.same(status.bench, { error: 'latest.json is not valid JSON' });
});

t.test('an upstream without /-/workers shows the reason', async (t) => {
  const upstream = await startStubUpstream(t);
  const harness = await startHarness(t, { upstreams: [`${upstream.url}/nowhere`] });
  const status = await statusJson(harness.url);
  t.same(status.upstreams[0]?.workers, { ok: false, error: 'answer has no workers list' }, 'the app answered, but not with a workers report');
});

t.test('page, assets, methods, unknown paths, non-loopback peers', async (t) => {
  const harness = await startHarness(t);
  const page = await fetch(`${harness.url}/-/status`);
  t.equal(page.status, 200);
  t.match(page.headers.get('content-type'), /^text\/html/);
  t.match(page.headers.get('content-security-policy'), /script-src 'self'/);
  t.equal(page.headers.get('cache-control'), 'no-store');
  const html = await page.text();
  t.match(html, /<script src="\/-\/status\.js" defer><\/script>/);
  t.notMatch(html, /<script>/, 'no inline script (the CSP forbids it)');
  for (const [path, type] of [['/-/status.js', /^text\/javascript/], ['/-/status.css', /^text\/css/]] as const) {
    const response = await fetch(`${harness.url}${path}`);
    t.equal(response.status, 200, path);
    t.match(response.headers.get('content-type'), type);
    await response.arrayBuffer();
  }
  const head = await fetch(`${harness.url}/-/status.json`, { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(await head.text(), '');
  const options = await fetch(`${harness.url}/-/metrics`, { method: 'OPTIONS' });
  t.equal(options.status, 204);
  t.equal(options.headers.get('allow'), 'GET, HEAD, OPTIONS');
  const post = await fetch(`${harness.url}/-/status`, { method: 'POST', body: 'x' });
  t.equal(post.status, 405);
  t.equal(post.headers.get('allow'), 'GET, HEAD, OPTIONS');
  await post.arrayBuffer();
  const missing = await fetch(`${harness.url}/-/nothing`, { headers: { accept: 'application/json' } });
  t.equal(missing.status, 404);
  t.match(await missing.json(), { error: { code: 'WEB_ERR_NOT_FOUND' } });

  const closed = await startHarness(t, { operator: { isAllowedPeer: () => false } });
  const refused = await fetch(`${closed.url}/-/status.json`, { headers: { accept: 'application/json' } });
  t.equal(refused.status, 403);
  t.match(await refused.json(), { error: { code: 'WEB_ERR_FORBIDDEN' } });
});

t.test('helpers: loopback, operator paths, placement from addresses', async (t) => {
  t.ok(isLoopback('127.0.0.1'));
  t.ok(isLoopback('127.8.9.10'));
  t.ok(isLoopback('::1'));
  t.ok(isLoopback('::ffff:127.0.0.1'));
  t.notOk(isLoopback('10.0.0.1'));
  t.notOk(isLoopback('::ffff:10.0.0.1'));
  t.notOk(isLoopback(undefined));
  t.ok(isOperatorPath('/-/status'));
  t.notOk(isOperatorPath('/status'));
  t.equal(derivePlacement({ dynamic: 'proxy', upstreams: ['http://127.0.0.1:3000', 'http://localhost:3001'] }).name, 'single-box');
  t.same(derivePlacement({ dynamic: 'proxy', upstreams: ['http://198.18.0.2:3000', 'http://198.18.0.3:3000'] }), { name: 'multi-box', dynamic: 'proxy', appHosts: ['198.18.0.2', '198.18.0.3'] });
  t.equal(derivePlacement({ dynamic: 'cgi', upstreams: [] }).name, 'single-process (cgi)');
});
