/**
 * `node dist/bench/slowhttptest.js [--seconds 30] [--connections 400]` (issue 6): runs the Debian
 * `slowhttptest` in its three slow modes — slow headers (slowloris), slow body (R-U-Dead-Yet),
 * slow read — against a web tier + one app worker it starts on loopback with the shipped
 * defaults, while probing a normal GET every 250 ms. Writes bench/results/slowhttptest.{json,md}.
 * Installs nothing: without slowhttptest on PATH it says so and exits 2.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { findExecutable, repoRoot } from './environment.js';
import { baseEnv } from './launcher.js';
import { startAppTier, startWebTier, type ScenarioContext } from './scenarios.js';

interface Mode {
  readonly name: string;
  readonly flags: readonly string[];
  readonly path: string;
}

const MODES: readonly Mode[] = [
  { name: 'slow headers (slowloris)', flags: ['-H', '-t', 'GET', '-i', '5', '-x', '24'], path: '/' },
  { name: 'slow body (R-U-Dead-Yet)', flags: ['-B', '-t', 'POST', '-i', '5', '-s', '8192', '-x', '24'], path: '/api/echo' },
  { name: 'slow read', flags: ['-X', '-k', '3', '-n', '1', '-w', '10', '-y', '20', '-z', '32'], path: '/100k.txt' },
];

export interface ModeResult {
  readonly mode: string;
  readonly seconds: number;
  readonly connectionsTarget: number;
  /** Most connections slowhttptest held open at once. */
  readonly maxConnected: number;
  /** Connections the server closed during the run (cut abusers). */
  readonly closedByEnd: number;
  /** slowhttptest's own probe: the share of its samples that found the service available. */
  readonly toolAvailableShare: number;
  readonly probesOk: number;
  readonly probesFailed: number;
}

/** slowhttptest's CSV: "Seconds,Closed,Pending,Connected,Service Available". */
export function summariseCsv(text: string): { maxConnected: number; closed: number; availableShare: number } {
  const rows = text.trim().split('\n').slice(1).map((line) => line.split(',').map(Number)).filter((row) => row.length >= 5);
  const maxConnected = Math.max(0, ...rows.map((row) => row[3] ?? 0));
  const closed = rows.length === 0 ? 0 : (rows[rows.length - 1]![1] ?? 0);
  const available = rows.filter((row) => (row[4] ?? 0) > 0).length;
  return { maxConnected, closed, availableShare: rows.length === 0 ? 0 : available / rows.length };
}

/** GET url every intervalMs until stopped, from 127.0.0.2; counts 2xx answers within 2 s as ok. */
function probe(url: string, intervalMs: number): { stop: () => Promise<{ ok: number; failed: number }> } {
  let ok = 0;
  let failed = 0;
  let inFlight: Promise<void> = Promise.resolve();
  const once1 = (): Promise<void> => new Promise((resolve) => {
    // The probe is another host (127.0.0.2): the attack comes from 127.0.0.1, and the per-client
    // connection cap (WEB_PEER_MAX_CONNECTIONS, issue 12) is meant to hold that one host, not everyone.
    const req = get(url, { agent: false, timeout: 2_000, localAddress: '127.0.0.2' }, (res) => {
      res.resume();
      if ((res.statusCode ?? 0) < 300) ok += 1;
      else failed += 1;
      res.on('end', resolve);
    });
    req.on('timeout', () => req.destroy(new Error('probe timed out')));
    req.on('error', () => {
      failed += 1;
      resolve();
    });
  });
  const timer = setInterval(() => (inFlight = once1()), intervalMs);
  return {
    stop: async () => {
      clearInterval(timer);
      await inFlight;
      return { ok, failed };
    },
  };
}

async function runMode(tool: string, mode: Mode, base: string, seconds: number, connections: number, workDir: string): Promise<ModeResult> {
  const prefix = join(workDir, mode.flags[0]!.slice(1));
  const args = [...mode.flags, '-c', String(connections), '-r', String(Math.min(200, connections)), '-l', String(seconds), '-p', '3', '-g', '-o', prefix, '-u', `${base}${mode.path}`];
  const probes = probe(`${base}/api/articles/`, 250);
  const child = spawn(tool, args, { stdio: ['ignore', 'ignore', 'ignore'] });
  // Bounded: the tool's own -l plus a margin, then it is killed.
  const killer = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000);
  await once(child, 'exit');
  clearTimeout(killer);
  const { ok, failed } = await probes.stop();
  let csv = '';
  try {
    csv = readFileSync(`${prefix}.csv`, 'utf8');
  } catch {
    // No CSV: the tool failed to start; reported as zeros.
  }
  const summary = summariseCsv(csv);
  return { mode: mode.name, seconds, connectionsTarget: connections, maxConnected: summary.maxConnected, closedByEnd: summary.closed, toolAvailableShare: summary.availableShare, probesOk: ok, probesFailed: failed };
}

export function renderMarkdown(results: readonly ModeResult[], when: string): string {
  const lines = [
    `# slowhttptest against the web tier, ${when}`,
    '',
    'Web tier with shipped defaults (headers timeout 20 s, request timeout 120 s, keep-alive 5 s) in front of one app worker, on loopback.',
    'A probe GET /api/articles/ (through the proxy) every 250 ms during each run; "tool available" is slowhttptest\'s own probe.',
    '',
    '| Mode | s | target conns | max held | closed by server | tool: available | probe ok / failed |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...results.map((r) => `| ${r.mode} | ${r.seconds} | ${r.connectionsTarget} | ${r.maxConnected} | ${r.closedByEnd} | ${(r.toolAvailableShare * 100).toFixed(0)} % | ${r.probesOk} / ${r.probesFailed} |`),
    '',
  ];
  return lines.join('\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '30' }, connections: { type: 'string', default: '400' } } });
  const seconds = Math.min(300, Math.max(5, Number(values.seconds)));
  const connections = Math.min(4000, Math.max(10, Number(values.connections)));
  const tool = findExecutable('slowhttptest', process.env['PATH']);
  if (tool === null) {
    process.stderr.write('slowhttptest is not on PATH (Debian: apt-get install slowhttptest); nothing run\n');
    return 2;
  }
  const root = repoRoot();
  const workDir = mkdtempSync(join(tmpdir(), 'twotier-slowhttp-'));
  const webRoot = join(workDir, 'www');
  mkdirSync(webRoot);
  writeFileSync(join(webRoot, 'index.html'), '<!doctype html><title>slowhttptest</title>\n');
  writeFileSync(join(webRoot, '100k.txt'), 'x'.repeat(100 * 1024));
  const ctx: ScenarioContext = { root, workDir, webRoot, serverCpus: null, nginxPath: null, serverEnv: baseEnv(process.env), concurrency: 10 };
  const app = await startAppTier(ctx, 1, 'slowhttp');
  const web = await startWebTier(ctx, 'proxy', `http://127.0.0.1:${app.port}`, 'slowhttp');
  const results: ModeResult[] = [];
  try {
    for (const mode of MODES) {
      process.stderr.write(`slowhttptest: ${mode.name}, ${seconds} s, ${connections} connections…\n`);
      results.push(await runMode(tool, mode, `http://127.0.0.1:${web.port}`, seconds, connections, workDir));
    }
  } finally {
    await web.close();
    await app.close();
    rmSync(workDir, { recursive: true, force: true });
  }
  const when = new Date().toISOString();
  const outDir = join(root, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'slowhttptest.json'), `${JSON.stringify({ when, results }, null, 2)}\n`);
  const markdown = renderMarkdown(results, when);
  writeFileSync(join(outDir, 'slowhttptest.md'), markdown);
  process.stdout.write(markdown);
  return 0;
}

if (process.argv[1]?.endsWith('slowhttptest.js')) {
  main().then((code) => (process.exitCode = code), (error: unknown) => {
    process.stderr.write(`slowhttptest bench failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  });
}
