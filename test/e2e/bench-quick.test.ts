/**
 * The whole benchmark, end to end, as a smoke check: every scenario runs for a second with
 * two connections and the JSON it writes is validated. Behaviour only: no speed is asserted
 * (the machine is shared; figures belong in the report, not in a test).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { distPath, findExecutable } from '../../bench/environment.js';
import { benchResultSchema } from '../../bench/result-schema.js';
import { buildScenarios, selectScenarios } from '../../bench/scenarios.js';

const main = distPath('bench', 'main.js');
const WORKERS = 2;

// Every row starts its own servers: with issue 18's five rows the run passed tap's default 180 s on
// CI (at ef104cd); a bound of its own, and 10 requests per CGI row (a smoke check, not a measurement).
t.test('bench --quick runs every scenario to a valid JSON and report', { timeout: 480_000, skip: existsSync(main) ? false : `${main} is missing: run npm run build` }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-bench-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const jsonFile = join(dir, 'copy', 'run.json');
  const args = [main, '--quick', '--duration', '1', '--warmup', '0', '--connections', '2', '--cgi-requests', '10', '--workers', String(WORKERS), '--results-dir', join(dir, 'results'), '--json', jsonFile];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '' } });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  child.stdout.resume();
  const [code] = (await once(child, 'exit')) as [number | null];
  t.equal(code, 0, 'the bench exits 0', { stderr: stderr.slice(-3000) });

  const result = benchResultSchema.parse(JSON.parse(readFileSync(jsonFile, 'utf8')));
  // The default run: every row but the opt-in ones (the WebSocket comparison runs with --compare websocket).
  const expected = selectScenarios(buildScenarios(WORKERS), []).map((scenario) => scenario.name);
  t.same(result.scenarios.map((row) => row.name), expected, 'every scenario is present, in order');
  t.same(result.flags.scenarios, expected);
  t.equal(result.flags.connections, 2);
  t.equal(result.flags.durationSec, 1);
  t.match(result.machine.node, /^v\d+/);
  t.ok(result.machine.cpuCount >= 1);
  t.match(result.commit, /^[0-9a-f]{7,}$|^unknown$/);
  t.equal(result.pinning.tool, findExecutable('taskset', process.env['PATH']) !== null && result.machine.cpuCount >= 2 ? 'taskset' : null, 'pinning recorded');

  const nginx = findExecutable('nginx', process.env['PATH']) !== null;
  for (const row of result.scenarios) {
    if (row.name.startsWith('nginx-') && !nginx) {
      t.equal(row.status, 'skipped', `${row.name} is skipped without nginx`);
      t.match(row.reason, /nginx/);
      continue;
    }
    t.equal(row.status, 'ok', `${row.name} ran`, { reason: row.reason });
    // A CGI request starts Node and the app: on a loaded machine that can take longer than the
    // whole 1 s window, and autocannon drops requests still in flight at the end. The answer
    // itself was checked (2xx, X-Served-By: cgi) before the load started.
    if (row.name !== 'cgi-echo') t.ok(row.requests > 0 && row.rps > 0, `${row.name} answered requests`);
    t.equal(row.errors, 0, `${row.name}: no socket errors or timeouts`);
    t.equal(row.non2xx, 0, `${row.name}: every answer 2xx`);
    t.ok(row.latencyMs.p50 <= row.latencyMs.p99 && row.latencyMs.p99 <= row.latencyMs.max, `${row.name}: percentiles ordered`);
    t.ok(row.peakRssMiB > 0 && row.peakProcesses >= 1, `${row.name}: its processes were sampled`);
    t.ok(row.cpuSeconds > 0, `${row.name}: CPU time measured`);
  }
  const byName = new Map(result.scenarios.map((row) => [row.name, row]));
  t.ok((byName.get(`proxy-echo-w${WORKERS}`)?.peakProcesses ?? 0) >= WORKERS + 2, 'web tier + primary + every worker sampled');
  t.ok((byName.get('static-1k')?.bytesPerSec ?? 0) > 1024, 'bytes/s counted');

  const files = readdirSync(join(dir, 'results')).sort();
  t.ok(files.includes('latest.json') && files.includes('latest.md') && files.includes('latest.svg'));
  t.equal(files.filter((file) => /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ\.(json|md|svg)$/.test(file)).length, 3, 'timestamped files beside latest.*');
  t.same(JSON.parse(readFileSync(join(dir, 'results', 'latest.json'), 'utf8')), result, '--json copy equals latest.json');
  t.ok(result.ratios?.some((ratio) => ratio.label === 'proxy hop' && ratio.value !== null), 'the JSON carries the ratios');
  const markdown = readFileSync(join(dir, 'results', 'latest.md'), 'utf8');
  t.match(markdown, /\| proxy hop \| proxy-echo-w1 ÷ direct-echo/);
  for (const label of ['twotier ÷ sirv, static 1 KiB', 'plain ÷ http-proxy engine', 'web tier w2 ÷ w1, static 1 KiB']) {
    t.match(markdown, new RegExp(`\\| ${label} \\| [^|]+ \\| \\d[\\d,.]*× \\|`), `${label}: a value from this run`);
  }
  t.ok((byName.get('static-1k-web-w2')?.peakProcesses ?? 0) >= 3, 'WEB_WORKERS=2: primary and both workers sampled');
  t.match(stderr, new RegExp(`\\[${expected.length}/${expected.length}\\] ${expected.at(-1) ?? ''}`), 'progress names scenario k/n (the last row of the default run)');
});
