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

t.test('issue 8 targets sit beside the ratio definitions and reach the markdown', async (t) => {
  const ratios = new Map(computeRatios(result).map((ratio) => [ratio.label, ratio]));
  t.equal(ratios.get('twotier ÷ nginx, static 1 KiB')?.target, 0.6);
  t.equal(ratios.get('twotier ÷ sirv, static 1 KiB')?.target, 3);
  t.equal(ratios.get('twotier ÷ nginx, static 100 KiB')?.target, 0.5);
  t.equal(ratios.get('twotier ÷ nginx, proxy')?.target, 1);
  t.ok(ratios.has('plain ÷ http-proxy engine'));
  t.notOk('target' in (ratios.get('plain ÷ http-proxy engine') ?? {}), 'the engine ratio has no target');
  t.notOk('target' in (ratios.get('proxy hop') ?? {}), 'nor do the other ratios');
  const markdown = renderMarkdown({ ...result, scenarios: [ok('static-1k', 30000), ok('nginx-static-1k', 60000), ok('proxy-echo-w1', 5000), ok('direct-echo', 10000)] });
  t.match(markdown, /^\| Ratio \| Rows \| Value \| Target \| What it says \|$/m);
  t.match(markdown, /^\| twotier ÷ nginx, static 1 KiB \| static-1k ÷ nginx-static-1k \(req\/s\) \| 0\.50× \| ≥ 0\.6× \| the web tier/m);
  t.match(markdown, /^\| twotier ÷ nginx, proxy \| proxy-echo-w1 ÷ nginx-proxy-echo \(req\/s\) \| n\/a \| ≥ 1× \| /m);
  t.match(markdown, /^\| proxy hop \| proxy-echo-w1 ÷ direct-echo \(req\/s\) \| 0\.50× \| \| share of/m, 'no target: an empty cell');
  const ratioRows = markdown.split('\n').filter((line) => line.includes(' ÷ ') && line.startsWith('| '));
  t.ok(ratioRows.length > 0 && ratioRows.every((line) => line.split(/(?<!\\)\|/).length - 2 === 5), 'every ratio row has 5 cells');
});

t.test('markdown: header, one row per scenario, escaped cells, ratios, chart link', async (t) => {
  const markdown = renderMarkdown(result, { svgFile: 'latest.svg' });
  const tableRows = markdown.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| ---'));
  // Header rows of both tables + 11 scenarios + one row per ratio, measured or n/a: at least the 15 of
  // issue 8 (8 fixed, 1 scaling, web w2 ÷ w1, sirv, 4 nginx), and those later issues add (18: hello, Express).
  const ratioCount = computeRatios(result).length;
  t.ok(ratioCount >= 15 + 4, `${ratioCount} ratios`);
  t.equal(tableRows.length, 2 + 11 + ratioCount);
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
  const read = readResult(written.latest.json);
  const { ratios, ...rest } = read;
  t.same(rest, result, 'the run as it was');
  t.same(ratios, JSON.parse(JSON.stringify(computeRatios(result))), 'with its ratios written beside it');
  t.ok(ratios?.some((ratio) => ratio.value !== null), 'ratios with values');
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

const RATIO_PANEL_TITLE = 'Ratios against the references (issue 8 targets)';

/** The ratio panel's rows, in order: bar rects (height 14), target ticks (2 px lines past the legend's) and value labels. */
function ratioPanelOf(svg: string): { bars: { end: number; fill: string }[]; ticks: number[]; values: string[] } | undefined {
  const start = svg.indexOf(RATIO_PANEL_TITLE);
  if (start < 0) return undefined;
  const panel = svg.slice(start);
  const bars = [...panel.matchAll(/<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)" height="14" fill="(#[0-9a-f]{6})"\/>/g)].map((m) => ({ end: Number(m[1]) + Number(m[2]), fill: m[3] ?? '' }));
  const ticks = [...panel.matchAll(/<line x1="([\d.]+)" y1="[\d.]+" x2="[\d.]+" y2="[\d.]+" stroke="#222" stroke-width="2"\/>/g)].map((m) => Number(m[1])).slice(1);
  // Values carry decimals ("0.62×"); the parity line's "1×" does not.
  const values = [...panel.matchAll(/>([\d,]+\.\d+×(?: · [a-z ]+)?)</g)].map((m) => m[1] ?? '');
  return { bars, ticks, values };
}

t.test('svg: the ratio panel draws met and below-target bars, a tick at each target, and leaves out what the run lacks', async (t) => {
  const full = {
    ...result,
    scenarios: [
      ok('static-1k', 30000), ok('static-100k', 12000), ok('proxy-echo-w1', 6000), ok('proxy-echo-w1-http-proxy', 4000),
      ok('sirv-static-1k', 10000), ok('nginx-static-1k', 60000), ok('nginx-static-100k', 14000), ok('nginx-proxy-echo', 7500),
    ],
  };
  const svg = renderSvg(full);
  t.same(checkWellFormed(svg), []);
  t.match(svg, />Ratios against the references \(issue 8 targets\)</, 'the panel is there');
  const panel = ratioPanelOf(svg);
  if (panel === undefined) return;
  const labels = [...svg.slice(svg.indexOf(RATIO_PANEL_TITLE)).matchAll(/text-anchor="end">([^<]+)</g)].map((m) => m[1]);
  t.same(labels, ['twotier ÷ sirv, static 1 KiB', 'twotier ÷ nginx, static 1 KiB', 'twotier ÷ nginx, static 100 KiB', 'twotier ÷ nginx, proxy', 'plain ÷ http-proxy engine'], 'targeted ratios first, then the engine ratio');
  t.same(panel.values, ['3.00× · met', '0.50× · below target', '0.86× · met', '0.80× · below target', '1.50×']);
  t.same(panel.bars.map((b) => b.fill), ['#1b9e77', '#d55e00', '#1b9e77', '#d55e00', '#7a6fa0'], 'met green, below vermillion, untargeted purple');
  t.equal(panel.ticks.length, 4, 'a target tick per targeted ratio, none for the engine ratio');
  // Met bars reach their tick (sirv: exactly 3 = the target), below-target bars stop short of it.
  panel.ticks.forEach((tick, index) => {
    const reached = (panel.bars[index]?.end ?? 0) >= tick - 0.1;
    t.equal(reached, panel.bars[index]?.fill === '#1b9e77', `row ${index}: bar end against the tick at ${tick}`);
  });
  for (const label of ['≥ 3×', '≥ 0.6×', '≥ 0.5×', '≥ 1×']) t.match(svg, new RegExp(`font-size="10">${label}<`), `tick label ${label}`);
  const height = (text: string): number => Number(/height="(\d+)"/.exec(text)?.[1]);
  const withoutRatios = renderSvg({ ...full, scenarios: full.scenarios.filter((row) => !/^(nginx|sirv)-|http-proxy/.test(row.name)) });
  t.notMatch(withoutRatios, /Ratios against the references/, 'no reference rows: no panel');
  t.ok(height(withoutRatios) < height(svg), 'and no room kept for it');
  t.notMatch(renderSvg(result), /Ratios against the references/, 'skipped nginx rows count as absent');
  const noNginx = renderSvg({ ...full, scenarios: full.scenarios.filter((row) => !row.name.startsWith('nginx-')) });
  t.same(checkWellFormed(noNginx), []);
  t.same(ratioPanelOf(noNginx)?.values, ['3.00× · met', '1.50×'], 'without nginx only the sirv and engine rows are drawn');
  t.notMatch(noNginx.slice(noNginx.indexOf(RATIO_PANEL_TITLE)), /÷ nginx/);
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
