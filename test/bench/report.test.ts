import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { computeRatios } from '../../bench/ratios.js';
import { renderMarkdown, renderTerminalSummary } from '../../bench/report-markdown.js';
import { renderSvg } from '../../bench/report-svg.js';
import { readResult, resultStamp, writeResults } from '../../bench/results-writer.js';
import type { BenchResult, ScenarioResult } from '../../bench/result-schema.js';

function ok(name: string, rps: number, extra: Partial<ScenarioResult> = {}): ScenarioResult {
  return {
    name, description: `row ${name}`, status: 'ok', rps, latencyMs: { p50: 1, p90: 2, p99: 4, max: 9 },
    errors: 0, non2xx: 0, bytesPerSec: 1024 * 1024, peakRssMiB: 80, cpuSeconds: 2, peakProcesses: 2, requests: rps * 2, ...extra,
  };
}

function skipped(name: string): ScenarioResult {
  return { ...ok(name, 0), status: 'skipped', reason: 'nginx is not on PATH', requests: 0, cpuSeconds: 0 };
}

const result: BenchResult = {
  startedAt: '2026-11-25T11:42:01.123Z',
  finishedAt: '2026-11-25T11:44:01.000Z',
  machine: { node: 'v20.19.0', platform: 'linux x64', cpuModel: 'AMD <EPYC> & "friends"', cpuCount: 2, totalMemMiB: 4096, loadAverage1m: 0.5 },
  commit: 'abc1234',
  flags: { quick: true, durationSec: 1, warmupSec: 0, connections: 2, pipelining: 1, maxWorkers: 2, scenarios: [], pin: true },
  pinning: { servers: '0', loadGenerator: '1', tool: 'taskset' },
  scenarios: [
    ok('static-1k', 20000), ok('direct-echo', 10000), ok('proxy-echo-w1', 5000), ok('proxy-echo-w2', 7500),
    ok('embedded-echo', 9000), ok('cgi-echo', 50, { cpuSeconds: 10, requests: 100, peakRssMiB: 400, peakProcesses: 4 }),
    ok('cgi-shell', 500), ok('articles-page', 2500), skipped('nginx-static-1k'), skipped('nginx-proxy-echo'),
    ok('weird|name<&>', 1),
  ],
};

t.test('ratios come from rows of the same run; absent or skipped rows give null', async (t) => {
  const ratios = new Map(computeRatios(result).map((ratio) => [ratio.label, ratio]));
  t.equal(ratios.get('persistent workers ÷ CGI')?.value, 100);
  t.equal(ratios.get('proxy hop')?.value, 0.5);
  t.equal(ratios.get('embedded ÷ proxied')?.value, 1.8);
  t.equal(ratios.get('scaling w2 ÷ w1')?.value, 1.5);
  t.equal(ratios.get('CGI ÷ persistent, peak memory')?.value, 5);
  // cgi-echo: 10 s / 100 requests = 100 ms; proxy-echo-w1: 2 s / 10000 = 0.2 ms.
  t.equal(ratios.get('CGI ÷ persistent, CPU per request')?.value, 500);
  t.equal(ratios.get('twotier ÷ nginx, static 1 KiB')?.value, null);
  t.equal(ratios.get('twotier ÷ nginx, proxy')?.value, null);
  t.notOk(ratios.has('scaling w1 ÷ w1'));
});

t.test('issue 8 ratios: sirv, the http-proxy engine, WEB_WORKERS 2 ÷ 1, from a fake run', async (t) => {
  const run = {
    scenarios: [
      ok('static-1k', 30000), ok('static-1k-web-w1', 20000), ok('static-1k-web-w2', 34000), ok('proxy-echo-w1', 6000),
      ok('proxy-echo-w1-http-proxy', 4000), ok('sirv-static-1k', 10000), ok('nginx-static-1k', 60000), ok('nginx-proxy-echo', 7500),
    ],
  };
  const ratios = new Map(computeRatios(run).map((ratio) => [ratio.label, ratio]));
  t.match(ratios.get('twotier ÷ sirv, static 1 KiB'), { numerator: 'static-1k', denominator: 'sirv-static-1k', metric: 'rps', value: 3 });
  t.match(ratios.get('twotier ÷ sirv, static 1 KiB')?.meaning, /≥ 3×/, 'the issue 8 target is named');
  t.match(ratios.get('plain ÷ http-proxy engine'), { numerator: 'proxy-echo-w1', denominator: 'proxy-echo-w1-http-proxy', metric: 'rps', value: 1.5 });
  t.match(ratios.get('web tier w2 ÷ w1, static 1 KiB'), { numerator: 'static-1k-web-w2', denominator: 'static-1k-web-w1', metric: 'rps', value: 1.7 });
  t.equal(ratios.get('twotier ÷ nginx, static 1 KiB')?.value, 0.5);
  t.equal(ratios.get('twotier ÷ nginx, proxy')?.value, 0.8);
  t.notMatch(ratios.get('twotier ÷ nginx, proxy')?.meaning, /http-proxy/, 'the nginx proxy ratio names no engine');
  t.notOk([...ratios.keys()].some((label) => label.includes('http-proxy ÷ w1')), 'the http-proxy row is not a scaling row');
  const failedSirv = computeRatios({ scenarios: [ok('static-1k', 30000), { ...ok('sirv-static-1k', 0), status: 'failed', reason: 'x' }] });
  t.equal(failedSirv.find((ratio) => ratio.label === 'twotier ÷ sirv, static 1 KiB')?.value, null, 'a failed side gives null');
  const markdown = renderMarkdown({ ...result, scenarios: run.scenarios });
  t.match(markdown, /\| twotier ÷ sirv, static 1 KiB \| static-1k ÷ sirv-static-1k \(req\/s\) \| 3\.00× \|/);
  t.match(markdown, /\| plain ÷ http-proxy engine \| proxy-echo-w1 ÷ proxy-echo-w1-http-proxy \(req\/s\) \| 1\.50× \|/);
  t.match(markdown, /\| web tier w2 ÷ w1, static 1 KiB \| static-1k-web-w2 ÷ static-1k-web-w1 \(req\/s\) \| 1\.70× \|/);
  t.match(renderTerminalSummary({ ...result, scenarios: run.scenarios }), /^proxy-echo-w1-http-proxy\s+4,000\s/m);
});

t.test('markdown: header, one row per scenario, escaped cells, ratios, chart link', async (t) => {
  const markdown = renderMarkdown(result, { svgFile: 'latest.svg' });
  const tableRows = markdown.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| ---'));
  // Header rows of both tables + 11 scenarios + 14 ratios (8 fixed, 1 scaling, web w2 ÷ w1, sirv, 3 nginx).
  t.equal(tableRows.length, 2 + 11 + 14);
  for (const line of tableRows.slice(0, 12)) {
    t.equal(line.split(/(?<!\\)\|/).length - 2, 13, `13 cells: ${line}`);
  }
  t.match(markdown, /\| cgi-echo \| 50 \|/);
  t.match(markdown, /\| nginx-static-1k \| skipped: nginx is not on PATH \|/);
  t.match(markdown, /weird\\\|name<&>/);
  t.match(markdown, /persistent workers ÷ CGI \| proxy-echo-w1 ÷ cgi-echo \(req\/s\) \| 100\.0×/);
  t.match(markdown, /servers on CPU 0, load generator on CPU 1/);
  t.match(markdown, /all servers share one core/);
  t.match(markdown, /load average 0\.50 at the start/);
  t.match(markdown, /!\[[^\]]+\]\(latest\.svg\)/);
  t.match(markdown, /^- \*\*cgi-echo\*\*: row cgi-echo$/m, 'each row says what it measures');
});

/** A small well-formedness check: balanced tags, quoted attributes, no raw "<" or bare "&" in text. */
function checkWellFormed(xml: string): string[] {
  const problems: string[] = [];
  const stack: string[] = [];
  const token = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|<|&(?!(?:amp|lt|gt|quot|apos|#\d+);)/g;
  let match: RegExpExecArray | null;
  while ((match = token.exec(xml)) !== null) {
    if (match[2] === undefined) {
      problems.push(`stray ${JSON.stringify(match[0])} at ${match.index}`);
      continue;
    }
    if (match[1] === '/') {
      const open = stack.pop();
      if (open !== match[2]) problems.push(`</${match[2]}> closes <${open ?? 'nothing'}>`);
    } else if (match[4] !== '/') {
      stack.push(match[2]);
    }
  }
  if (stack.length > 0) problems.push(`unclosed: ${stack.join(', ')}`);
  return problems;
}

t.test('svg is well formed, escapes text and draws a bar per measured row', async (t) => {
  const svg = renderSvg(result);
  t.same(checkWellFormed(svg), []);
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  t.match(svg, /AMD &lt;EPYC&gt; &amp; &quot;friends&quot;/);
  t.match(svg, /weird\|name&lt;&amp;&gt;/);
  const bars = svg.match(/<rect [^>]*fill="#3b6ea5"/g) ?? [];
  t.equal(bars.length, 9, 'one throughput bar per ok row');
  t.equal((svg.match(/>skipped</g) ?? []).length, 4, 'skipped rows are labelled in both panels');
  t.same(checkWellFormed('<svg><text>a < b</text></svg>').length, 1, 'the checker itself catches a raw "<"');
});

t.test('results round-trip through files and a bad file names the field', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-report-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.equal(resultStamp(result.startedAt), '2026-11-25T11-42-01Z');
  const written = writeResults(result, dir);
  t.equal(written.run.json, join(dir, '2026-11-25T11-42-01Z.json'));
  t.same(readResult(written.latest.json), result);
  t.match(readFileSync(written.latest.markdown, 'utf8'), /\(latest\.svg\)/);
  t.match(readFileSync(written.run.markdown, 'utf8'), /\(2026-11-25T11-42-01Z\.svg\)/);
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ ...result, scenarios: [{ ...result.scenarios[0], rps: -1 }] }));
  t.throws(() => readResult(bad), /scenarios\.0\.rps/);
});

t.test('svg: nginx rows drawn grey with a legend; a latency under 1 ms reads "<1", not "0.0"', async (t) => {
  const withNginx = { ...result, scenarios: [ok('static-1k', 20000), ok('nginx-static-1k', 40000)] };
  const svg = renderSvg(withNginx);
  t.same(checkWellFormed(svg), []);
  t.equal((svg.match(/<rect [^>]*fill="#8a96a3"/g) ?? []).length, 2, 'the nginx bar and its legend swatch');
  t.match(svg, />nginx</);
  const fast = { ...withNginx, scenarios: withNginx.scenarios.map((row) => ({ ...row, latencyMs: { ...row.latencyMs, p50: 0 } })) };
  t.match(renderSvg(fast), />&lt;1</);
  t.notMatch(renderSvg(fast), />0\.0</);
  const withSirv = renderSvg({ ...result, scenarios: [ok('static-1k', 20000), ok('sirv-static-1k', 9000), ok('nginx-static-1k', 40000)] });
  t.same(checkWellFormed(withSirv), []);
  t.equal((withSirv.match(/<rect [^>]*fill="#8a96a3"/g) ?? []).length, 3, 'sirv is drawn grey too, like nginx');
  t.match(withSirv, />nginx, sirv</, 'the legend names both references');
  t.match(renderSvg({ ...result, scenarios: [ok('static-1k', 20000), ok('sirv-static-1k', 9000)] }), />sirv</);
});

t.test('terminal summary: a header, a rule, one aligned row per scenario, skipped rows say why', async (t) => {
  const lines = renderTerminalSummary(result).trimEnd().split('\n');
  t.equal(lines.length, 2 + result.scenarios.length);
  t.match(lines[0], /^scenario\s+req\/s\s+p50 ms\s+p99 ms\s+errors\s+non-2xx\s+peak RSS MiB\s+status$/);
  t.match(lines[2], /^static-1k\s+20,000\s+1\.0\s+4\.0\s+0\s+0\s+80\.0\s+ok$/);
  t.match(lines.find((line) => line.startsWith('nginx-static-1k')), /skipped: nginx is not on PATH$/);
  const statusColumn = lines[0]?.indexOf('status');
  t.ok(lines.slice(2).every((line) => line.slice(statusColumn).match(/^(ok|skipped)/)), 'the status column lines up');
});
