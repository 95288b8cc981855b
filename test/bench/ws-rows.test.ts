/**
 * Issue 16's WebSocket rows, the logic only (no servers): opt-in selection, the flags, nginx's
 * upgrade config, the figures (percentiles, KiB per connection, descriptors), the ratios with
 * their ≤ 4× ceiling, and the rows in the markdown and SVG reports.
 */
import t from 'tap';
import { COMPARE_SETS, DEFAULTS, parseBenchArgs } from '../../bench/flags.js';
import { renderNginxConfig } from '../../bench/nginx.js';
import { computeRatios, targetMet } from '../../bench/ratios.js';
import { renderMarkdown } from '../../bench/report-markdown.js';
import { renderSvg } from '../../bench/report-svg.js';
import { benchResultSchema, type BenchResult, type ScenarioResult } from '../../bench/result-schema.js';
import { buildScenarios, selectScenarios } from '../../bench/scenarios.js';
import { descriptorsNeeded, kibPerConnection, latencyPercentiles, openFileLimit } from '../../bench/ws-load.js';

const WS_ROWS = ['ws-echo', 'nginx-ws-echo', 'ws-echo-direct', 'ws-idle', 'nginx-ws-idle', 'ws-idle-w2', 'nginx-ws-idle-w2'];

t.test('the WebSocket rows run only when asked for: the default run is unchanged', async (t) => {
  const all = buildScenarios(1);
  const names = all.map((scenario) => scenario.name);
  for (const name of WS_ROWS) t.ok(names.includes(name), `${name} is a known row`);
  const defaults = selectScenarios(all, []).map((scenario) => scenario.name);
  for (const name of WS_ROWS) t.notOk(defaults.includes(name), `${name} is not in the default run`);
  // Other opt-in rows exist (node-https-static-1k-resumed): every row that is not opt-in runs by default.
  t.same(defaults, all.filter((scenario) => scenario.optIn !== true).map((scenario) => scenario.name), 'every other row still runs by default');
  t.same(selectScenarios(all, ['ws-idle']).map((scenario) => scenario.name), ['ws-idle'], 'named: runs');
  t.same(COMPARE_SETS['websocket'], WS_ROWS);
  const options = parseBenchArgs(['--compare', 'websocket', '--ws-idle', '500'], {}, 2);
  t.same(options.scenarios, WS_ROWS);
  t.equal(options.wsIdleConnections, 500);
  t.equal(parseBenchArgs([], {}, 2).wsIdleConnections, DEFAULTS.wsIdleConnections);
  t.equal(parseBenchArgs([], { BENCH_WS_IDLE: '2000' }, 2).wsIdleConnections, 2000);
  t.throws(() => parseBenchArgs(['--ws-idle', '0'], {}, 2), /--ws-idle must be an integer ≥ 1/);
});

t.test('nginx proxies /api/live as an upgrade, with descriptors for the idle row', async (t) => {
  const plain = renderNginxConfig({ port: 8080, webRoot: '/srv', upstreamPort: 3000, prefix: '/tmp/n' });
  t.notMatch(plain, /Upgrade/, 'no upgrade location unless asked');
  t.match(plain, /worker_connections 1024;/);
  const ws = renderNginxConfig({ port: 8080, webRoot: '/srv', upstreamPort: 3000, prefix: '/tmp/n', websocket: { connections: 10_000 } });
  t.match(ws, /location = \/api\/live \{[^}]*proxy_http_version 1\.1;[^}]*proxy_set_header Upgrade \$http_upgrade;[^}]*proxy_set_header Connection "upgrade";[^}]*proxy_read_timeout 1h;/);
  t.match(ws, /worker_connections 20256;/, 'two descriptors per connection');
  t.match(ws, /worker_rlimit_nofile 20320;/);
  t.match(ws, /^worker_processes 1;/, 'one worker unless asked');
  const two = renderNginxConfig({ port: 8080, webRoot: '/srv', upstreamPort: 3000, prefix: '/tmp/n', websocket: { connections: 10_000 }, workers: 2 });
  t.match(two, /^worker_processes 2;/, 'the 2-worker idle row');
  const rows = buildScenarios(1);
  t.equal(rows.find((row) => row.name === 'ws-idle-w2')?.frontWorkers, 2, 'ws-idle-w2 spreads its connections over 2 web workers');
  t.equal(rows.find((row) => row.name === 'nginx-ws-idle-w2')?.frontWorkers, 2);
  t.equal(rows.find((row) => row.name === 'ws-idle')?.frontWorkers, undefined, 'ws-idle stays one process');
});

t.test('the figures: percentiles, KiB per connection, descriptors, the open-file limit', async (t) => {
  t.same(latencyPercentiles([]), { p50: 0, p90: 0, p99: 0, max: 0 });
  const samples = Array.from({ length: 100 }, (_, index) => 100 - index);
  t.same(latencyPercentiles(samples), { p50: 50, p90: 90, p99: 99, max: 100 });
  t.same(latencyPercentiles(new Float64Array([0.25])), { p50: 0.25, p90: 0.25, p99: 0.25, max: 0.25 });
  t.equal(kibPerConnection(50_000, 70_000, 10_000), 2);
  t.equal(kibPerConnection(50_000, 49_000, 1_000), -1, 'a shrink is reported as it is');
  t.equal(kibPerConnection(1, 2, 0), null);
  t.equal(descriptorsNeeded(10_000), 20_256);
  t.equal(openFileLimit('Limit                     Soft Limit           Hard Limit           Units\nMax open files            20000                20000                files\n'), 20_000);
  t.equal(openFileLimit('Max open files            unlimited            unlimited            files\n'), Number.POSITIVE_INFINITY);
  t.equal(openFileLimit('nothing here'), null);
});

function ok(name: string, rps: number, extra: Partial<ScenarioResult> = {}): ScenarioResult {
  return {
    name, description: `row ${name}`, status: 'ok', rps, latencyMs: { p50: 0.2, p90: 0.4, p99: 1.5, max: 9 },
    errors: 0, non2xx: 0, bytesPerSec: 1024, peakRssMiB: 80, cpuSeconds: 2, peakProcesses: 2, requests: rps * 2, ...extra,
  };
}

function idle(name: string, kib: number): ScenarioResult {
  return ok(name, 0, { requests: 1000, latencyMs: { p50: 0, p90: 0, p99: 0, max: 0 }, idle: { requested: 1000, held: 1000, failed: 0, baselineRssKiB: 50_000, loadedRssKiB: 50_000 + kib * 1000, kibPerConnection: kib } });
}

function resultOf(scenarios: ScenarioResult[]): BenchResult {
  return {
    startedAt: '2026-12-02T09:00:00.000Z', finishedAt: '2026-12-02T09:01:00.000Z',
    machine: { node: 'v20.19.0', platform: 'linux x64', cpuModel: 'cpu', cpuCount: 2, totalMemMiB: 4096, loadAverage1m: 0.5 },
    commit: 'abc1234',
    flags: { quick: true, durationSec: 2, warmupSec: 1, connections: 10, pipelining: 1, maxWorkers: 1, wsIdleConnections: 1000, scenarios: WS_ROWS, pin: true },
    pinning: { servers: '0', loadGenerator: '1', tool: 'taskset' },
    scenarios,
  };
}

t.test('ratios: echo against nginx and the upstream alone; idle memory against a ≤ 4× ceiling', async (t) => {
  const rows = [ok('ws-echo', 6000), ok('nginx-ws-echo', 8000), ok('ws-echo-direct', 12_000), idle('ws-idle', 6), idle('nginx-ws-idle', 2)];
  const ratios = computeRatios({ scenarios: rows });
  const byLabel = (label: string) => ratios.find((ratio) => ratio.label === label);
  t.match(byLabel('twotier ÷ nginx, WebSocket echo'), { value: 0.75, metric: 'rps' });
  t.match(byLabel('WebSocket hop'), { value: 0.5 });
  t.match(byLabel('nginx WebSocket hop'), { value: 8000 / 12_000 });
  const memory = byLabel('twotier ÷ nginx, idle WebSocket memory');
  t.match(memory, { value: 3, metric: 'kibPerConnection', target: 4, atMost: true });
  t.equal(targetMet(memory as NonNullable<typeof memory>), true, '3× is within the 4× ceiling');
  t.equal(targetMet({ value: 4.5, target: 4, atMost: true }), false);
  t.equal(targetMet({ value: 4.5, target: 4 }), true, 'a floor still reads as ≥');
  t.equal(targetMet({ value: null, target: 4, atMost: true }), undefined);
  const missing = computeRatios({ scenarios: [idle('ws-idle', 6), { ...idle('nginx-ws-idle', 2), idle: { requested: 10, held: 0, failed: 10, baselineRssKiB: 1, loadedRssKiB: 1, kibPerConnection: 0 } }] });
  t.equal(missing.find((ratio) => ratio.label === 'twotier ÷ nginx, idle WebSocket memory')?.value, null, 'no connection held: no ratio');
});

t.test('the reports: idle table and ceiling in markdown, idle panel in the SVG, the JSON schema', async (t) => {
  const result = resultOf([ok('ws-echo', 6000), ok('nginx-ws-echo', 8000), ok('ws-echo-direct', 12_000), idle('ws-idle', 6), idle('nginx-ws-idle', 2)]);
  t.ok(benchResultSchema.safeParse(JSON.parse(JSON.stringify({ ...result, ratios: computeRatios(result) }))).success, 'the JSON with idle rows and a ceiling validates');
  const markdown = renderMarkdown(result);
  t.match(markdown, /\| ws-idle \| idle: 1,000 held, 6\.00 KiB\/conn \|/);
  t.match(markdown, /## Idle WebSocket connections/);
  t.match(markdown, /\| nginx-ws-idle \| 1,000 \| 1,000 \| 0 \| 48\.8 \| 50\.8 \| 2\.00 \|/);
  t.match(markdown, /\| twotier ÷ nginx, idle WebSocket memory \| ws-idle ÷ nginx-ws-idle \(KiB per idle connection\) \| 3\.00× \| ≤ 4× \|/);
  t.match(markdown, /\| twotier ÷ nginx, WebSocket echo \| ws-echo ÷ nginx-ws-echo \(req\/s\) \| 0\.75× \|/);
  const svg = renderSvg(result);
  t.match(svg, /Idle WebSocket connections/);
  t.match(svg, /≤ 4×/);
  t.match(svg, /3\.00× · met/);
  const throughput = svg.slice(svg.indexOf('Throughput'), svg.indexOf('Latency ('));
  t.notMatch(throughput, />ws-idle</, 'idle rows have no throughput bar');
  t.match(throughput, />ws-echo</);
  const over = renderSvg(resultOf([idle('ws-idle', 10), idle('nginx-ws-idle', 2)]));
  t.match(over, /5\.00× · below target/);
});
