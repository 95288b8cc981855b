/**
 * `--rounds N`: the scenarios run N times in turn (A B A B …), each row is its scenario's median
 * round and each ratio the median of the ratios taken within each round.
 */
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import t from 'tap';
import { distPath } from '../../bench/environment.js';
import { MAX_ROUNDS, parseBenchArgs } from '../../bench/flags.js';
import type { Progress } from '../../bench/progress.js';
import { computeRatios, median } from '../../bench/ratios.js';
import { renderMarkdown } from '../../bench/report-markdown.js';
import { renderSvg } from '../../bench/report-svg.js';
import { benchResultSchema, type BenchFlags, type BenchResult, type ScenarioResult } from '../../bench/result-schema.js';
import { medianRows, runBench } from '../../bench/run.js';
import type { Scenario } from '../../bench/scenarios.js';
import { listenForTest } from '../helpers/upstream.js';

const child = distPath('bench', 'load-child.js');
const needsBuild = { skip: existsSync(child) ? false : `${child} is missing: run npm run build` };

function row(name: string, rps: number, status: ScenarioResult['status'] = 'ok'): ScenarioResult {
  return {
    name, description: `${name} row`, status, ...(status === 'ok' ? {} : { reason: 'servers did not start' }),
    rps: status === 'ok' ? rps : 0, requests: status === 'ok' ? rps * 10 : 0, latencyMs: { p50: 1, p90: 1, p99: 1, max: 1 }, errors: 0, non2xx: 0,
    bytesPerSec: 0, peakRssMiB: 10, cpuSeconds: 1, peakProcesses: 1,
  };
}

t.test('flags: --rounds and BENCH_ROUNDS, 1 by default, bounded', async (t) => {
  t.equal(parseBenchArgs([], {}, 2).rounds, 1);
  t.equal(parseBenchArgs(['--rounds', '5'], {}, 2).rounds, 5);
  t.equal(parseBenchArgs([], { BENCH_ROUNDS: '3' }, 2).rounds, 3);
  t.equal(parseBenchArgs(['--rounds=2'], { BENCH_ROUNDS: '3' }, 2).rounds, 2, 'the flag wins over the environment');
  t.throws(() => parseBenchArgs(['--rounds', '0'], {}, 2), /--rounds must be an integer ≥ 1, got "0"/);
  t.throws(() => parseBenchArgs(['--rounds', '2.5'], {}, 2), /--rounds must be an integer/);
  t.throws(() => parseBenchArgs(['--rounds', String(MAX_ROUNDS + 1)], {}, 2), new RegExp(`--rounds must be an integer from 1 to ${MAX_ROUNDS}, got ${MAX_ROUNDS + 1}`));
  t.throws(() => parseBenchArgs([], { BENCH_ROUNDS: '99' }, 2), /BENCH_ROUNDS must be an integer from 1 to/, 'the message names where the value came from');
});

t.test('median: odd and even counts, none', async (t) => {
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 3, 2]), 2.5);
  t.equal(median([0.63]), 0.63);
  t.equal(median([]), null);
});

t.test('medianRows: each scenario its median round, a real row, every round named', async (t) => {
  const rows = medianRows([
    [row('https-static-1k', 100), row('nginx-https-static-1k', 200)],
    [row('https-static-1k', 300), row('nginx-https-static-1k', 100, 'failed')],
    [row('https-static-1k', 200), row('nginx-https-static-1k', 400)],
  ]);
  t.equal(rows.length, 2);
  t.equal(rows[0]?.rps, 200, 'the middle of 100, 300, 200');
  t.equal(rows[0]?.description, 'https-static-1k row [median of 3 rounds by req/s: 100, 300, 200]');
  // Two rounds finished: the lower of the middle two, a row that was measured (not a mean of two).
  t.equal(rows[1]?.rps, 200);
  t.match(rows[1]?.description, /\[median of 3 rounds by req\/s: 200, failed, 400\]$/);
  const never = medianRows([[row('a', 0, 'skipped')], [row('a', 0, 'failed')]]);
  t.equal(never[0]?.status, 'failed', 'a scenario that never finished keeps its last round');
});

t.test('computeRatios with rounds: the ratio within each round, their median as the value', async (t) => {
  const rounds = [
    [row('https-static-1k', 60), row('nginx-https-static-1k', 100)],
    [row('https-static-1k', 90), row('nginx-https-static-1k', 100)],
    // The slow spell hit nginx's row in this round only.
    [row('https-static-1k', 60), row('nginx-https-static-1k', 50)],
    [row('https-static-1k', 70), row('nginx-https-static-1k', 100, 'failed')],
  ];
  const result = { scenarios: medianRows(rounds), rounds };
  const ratio = computeRatios(result).find((one) => one.label === 'twotier ÷ nginx, https static 1 KiB');
  t.same(ratio?.rounds, [0.6, 0.9, 1.2, null]);
  t.equal(ratio?.value, 0.9, 'median of 0.6, 0.9, 1.2 (the failed round left out)');
  // One round: the ratio of the rows, as before, and no per-round list.
  const single = computeRatios({ scenarios: rounds[0] as ScenarioResult[] }).find((one) => one.label === 'twotier ÷ nginx, https static 1 KiB');
  t.equal(single?.value, 0.6);
  t.equal(single?.rounds, undefined);
});

t.test('the report says how many rounds and lists each round of each ratio', async (t) => {
  const rounds = [
    [row('static-1k', 60), row('nginx-static-1k', 100)],
    [row('static-1k', 80), row('nginx-static-1k', 100)],
    [row('static-1k', 70), row('nginx-static-1k', 100)],
  ];
  const result: BenchResult = {
    startedAt: '2026-12-02T00:00:00.000Z', finishedAt: '2026-12-02T00:01:00.000Z',
    machine: { node: 'v20', platform: 'linux x64', cpuModel: 'test', cpuCount: 2, totalMemMiB: 1, loadAverage1m: 0 },
    commit: 'test', pinning: { servers: null, loadGenerator: null, tool: null },
    flags: { quick: false, durationSec: 1, warmupSec: 0, connections: 1, pipelining: 1, maxWorkers: 1, rounds: 3, scenarios: ['static-1k', 'nginx-static-1k'], pin: false },
    scenarios: medianRows(rounds), rounds,
  };
  t.ok(benchResultSchema.safeParse(result).success, 'the result with rounds is a valid result file');
  const markdown = renderMarkdown(result);
  t.match(markdown, /- Rounds: 3, the scenarios run in turn/);
  t.match(markdown, /\| Ratio \| Rows \| Value \(median\) \| Target \| What it says \| Each round \|/);
  t.match(markdown, /\| twotier ÷ nginx, static 1 KiB \| static-1k ÷ nginx-static-1k \(req\/s\) \| 0\.70× \| ≥ 0\.6× \| [^|]+ \| 0\.60×, 0\.80×, 0\.70× \|/);
  t.notMatch(renderMarkdown({ ...result, scenarios: rounds[0] as ScenarioResult[], rounds: undefined }), /Each round|Rounds:/, 'a one-round report is as before');
  t.match(renderSvg(result), /<title>twotier benchmark [^<]*, median of 3 rounds<\/title>/, 'the chart says its rows are medians');
  t.notMatch(renderSvg({ ...result, rounds: undefined }), /median of/);
});

t.test('runBench with rounds runs the scenarios in turn and keeps every round', needsBuild, async (t) => {
  const started: string[] = [];
  const scenarioOn = async (name: string): Promise<Scenario> => {
    const port = await listenForTest(t, createServer((_req, res) => res.end('ok')));
    return {
      name,
      description: `${name} on a bare node server`,
      skipReason: () => null,
      start: async () => {
        started.push(name);
        return { url: `http://127.0.0.1:${port}/`, servedBy: null, pids: [], close: async () => {} };
      },
    };
  };
  const scenarios = [await scenarioOn('static-1k'), await scenarioOn('nginx-static-1k')];
  const flags: BenchFlags = { quick: true, durationSec: 1, warmupSec: 0, connections: 2, pipelining: 1, maxWorkers: 1, rounds: 2, scenarios: scenarios.map((one) => one.name), pin: false };
  const seen: string[] = [];
  const progress: Progress = { scenario: (index, total, name) => seen.push(`${index}/${total} ${name}`), phase: () => {}, tick: () => {}, done: () => {} };
  const result = await runBench({
    flags, scenarios, root: process.cwd(), pinning: { servers: null, loadGenerator: null, tool: null }, nginxPath: null, serverEnv: {},
    machine: { node: process.version, platform: 'linux', cpuModel: 'test', cpuCount: 1, totalMemMiB: 1, loadAverage1m: 0 }, commit: 'test', progress,
  });
  t.same(started, ['static-1k', 'nginx-static-1k', 'static-1k', 'nginx-static-1k'], 'A B A B, not A A B B');
  t.equal(seen[0], '1/4 static-1k (round 1 of 2)');
  t.equal(seen[3], '4/4 nginx-static-1k (round 2 of 2)');
  t.equal(result.rounds?.length, 2);
  t.same(result.scenarios.map((one) => one.name), ['static-1k', 'nginx-static-1k']);
  for (const one of result.scenarios) t.match(one.description, /\[median of 2 rounds by req\/s: [\d.]+, [\d.]+\]$/);
  const ratio = computeRatios(result).find((one) => one.label === 'twotier ÷ nginx, static 1 KiB');
  t.equal(ratio?.rounds?.length, 2);
  t.equal(ratio?.value, median((ratio?.rounds ?? []).filter((one): one is number => one !== null)));
});
