/**
 * CGI rows run by request count with a time cap (issue 17): a slow row still gets numbers, and a
 * row that completes no request fails the run with a message instead of passing as ok.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { distPath } from '../../bench/environment.js';
import { parseBenchArgs } from '../../bench/flags.js';
import { runLoad } from '../../bench/load-runner.js';
import type { Progress } from '../../bench/progress.js';
import type { BenchFlags } from '../../bench/result-schema.js';
import { countPlan, runBench } from '../../bench/run.js';
import { buildScenarios, type Scenario } from '../../bench/scenarios.js';
import { listenForTest } from '../helpers/upstream.js';

const child = distPath('bench', 'load-child.js');
const needsBuild = { skip: existsSync(child) ? false : `${child} is missing: run npm run build` };

const silent: Progress = { scenario: () => {}, phase: () => {}, tick: () => {}, done: () => {} };

t.test('flags: requests per CGI row and the cap, quick and full, env and flag', async (t) => {
  const full = parseBenchArgs([], {}, 2);
  t.equal(full.cgiRequests, 200);
  t.equal(full.cgiMaxSec, 60);
  const quick = parseBenchArgs(['--quick'], {}, 2);
  t.equal(quick.cgiRequests, 30);
  t.equal(quick.cgiMaxSec, 20);
  t.equal(parseBenchArgs(['--cgi-requests', '50'], { BENCH_CGI_REQUESTS: '70', BENCH_CGI_MAX_SEC: '9' }, 2).cgiRequests, 50);
  t.equal(parseBenchArgs([], { BENCH_CGI_MAX_SEC: '9' }, 2).cgiMaxSec, 9);
  // autocannon refuses fewer requests than connections.
  t.equal(parseBenchArgs(['--cgi-requests', '3', '--connections', '10'], {}, 2).cgiRequests, 10);
  t.throws(() => parseBenchArgs(['--cgi-max-sec', '0'], {}, 2), /--cgi-max-sec must be an integer ≥ 1/);
});

t.test('the CGI rows run by count (cgi-shell 10×), every other row for a duration', async (t) => {
  const flags: BenchFlags = { quick: false, durationSec: 10, warmupSec: 2, connections: 10, pipelining: 1, maxWorkers: 1, scenarios: [], pin: false, cgiRequests: 200, cgiMaxSec: 60 };
  const plans = Object.fromEntries(buildScenarios(1).map((scenario) => [scenario.name, countPlan(scenario, flags)]));
  t.same(plans['cgi-echo'], { requested: 200, capSec: 60 });
  t.same(plans['cgi-shell'], { requested: 2000, capSec: 60 });
  t.equal(plans['proxy-echo-w1'], undefined);
  t.equal(plans['static-1k'], undefined);
});

t.test('a run by count stops at the count, before the cap', needsBuild, async (t) => {
  const port = await listenForTest(t, createServer((_req, res) => res.end('ok')));
  const summary = await runLoad({ request: { url: `http://127.0.0.1:${port}/`, method: 'GET', headers: {}, connections: 2, pipelining: 1, durationSec: 30, warmupSec: 0, amount: 40 }, cpuList: null });
  t.equal(summary.requests, 40);
  t.equal(summary.capped, false);
  t.ok(summary.seconds < 30, `ended at the count (${summary.seconds} s)`);
});

t.test('a run by count that the cap ends reports what it did, marked capped', needsBuild, async (t) => {
  // One answer, then silence: the cap ends the run.
  let answered = 0;
  const port = await listenForTest(t, createServer((_req, res) => {
    answered += 1;
    if (answered === 1) res.end('ok');
  }));
  const summary = await runLoad({ request: { url: `http://127.0.0.1:${port}/`, method: 'GET', headers: {}, connections: 2, pipelining: 1, durationSec: 1, warmupSec: 0, amount: 50 }, cpuList: null });
  t.equal(summary.requests, 1);
  t.equal(summary.capped, true);
});

t.test('a row that completes 0 requests fails the run, with a message', needsBuild, async (t) => {
  // The row's one checked answer is served; every load request after it hangs.
  let answered = 0;
  const server = createServer((_req, res) => {
    answered += 1;
    if (answered === 1) res.end('ok');
  });
  const port = await listenForTest(t, server);
  const hanging: Scenario = {
    name: 'cgi-echo',
    description: 'a CGI row whose program never answers under load',
    byCount: { factor: 1 },
    skipReason: () => null,
    start: async () => ({ url: `http://127.0.0.1:${port}/`, servedBy: null, pids: [], close: async () => {} }),
  };
  const flags: BenchFlags = { quick: true, durationSec: 1, warmupSec: 0, connections: 2, pipelining: 1, maxWorkers: 1, scenarios: ['cgi-echo'], pin: false, cgiRequests: 10, cgiMaxSec: 1 };
  const result = await runBench({
    flags, scenarios: [hanging], root: process.cwd(), pinning: { servers: null, loadGenerator: null, tool: null }, nginxPath: null, serverEnv: {},
    machine: { node: process.version, platform: 'linux', cpuModel: 'test', cpuCount: 1, totalMemMiB: 1, loadAverage1m: 0 }, commit: 'test', progress: silent,
  });
  const row = result.scenarios[0]!;
  t.equal(row.status, 'failed');
  t.match(row.reason, /completed 0 requests in .* \(asked for 10, cap 1 s\)/);
});
