/**
 * Issue 8: what the proxy hop costs, http-proxy next to a plain http.request forward of the same
 * behaviour. Every server (the upstream and one front at a time) runs pinned to CPU 0, the load
 * generator (autocannon, in this process) to CPU 1 when `taskset` exists; the variants run in
 * alternating rounds and the table gives ratios from the same run, since this machine is shared.
 *
 *   npm run build && node dist/bench/proxy-compare.js [--duration 5] [--connections 10] [--rounds 2] [--json FILE]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import type { ServerRole } from './proxy-compare-servers.js';

interface AutocannonResult {
  readonly requests: { readonly total: number };
  readonly latency: { readonly p50: number; readonly p99: number };
  readonly duration: number;
  readonly errors: number;
  readonly non2xx: number;
}
type Autocannon = (options: Record<string, unknown>, done: (error: Error | null, result: AutocannonResult) => void) => unknown;
// autocannon is CommonJS without type declarations: the slice used here is typed above.
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const VARIANTS: readonly { role: ServerRole | 'direct'; label: string }[] = [
  { role: 'direct', label: 'upstream alone (no proxy)' },
  { role: 'bare-http-proxy', label: 'bare http-proxy, default agent (new connection per request)' },
  { role: 'bare-http-proxy-keepalive', label: 'bare http-proxy, keep-alive agent' },
  { role: 'twotier-http-proxy', label: 'twotier proxy, engine http-proxy' },
  { role: 'twotier-plain', label: 'twotier proxy, engine plain (default)' },
];

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at === -1 ? undefined : Number(process.argv[at + 1]);
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1 || value > 600) throw new RangeError(`--${name} must be a whole number from 1 to 600`);
  return value;
}

const duration = flag('duration', 5);
const connections = flag('connections', 10);
const rounds = flag('rounds', 2);
const jsonAt = process.argv.indexOf('--json');
const jsonFile = jsonAt === -1 ? undefined : process.argv[jsonAt + 1];
// Read before this process pins itself: afterwards node sees only the one CPU it may use.
const cpus = os.availableParallelism();
const pin = cpus >= 2 && spawnSync('taskset', ['-V']).status === 0 && !process.argv.includes('--no-pin');
const children = new Set<ChildProcess>();

async function startServer(role: ServerRole, upstream = ''): Promise<{ port: number; child: ChildProcess }> {
  const script = fileURLToPath(new URL('./proxy-compare-servers.js', import.meta.url));
  const command = pin ? ['taskset', ['-c', '0', process.execPath, script, role, upstream]] as const : [process.execPath, [script, role, upstream]] as const;
  const child = spawn(command[0], [...command[1]], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { PATH: process.env['PATH'] ?? '' } });
  children.add(child);
  const [message] = (await once(child, 'message')) as [{ port: number }];
  return { port: message.port, child };
}

async function stop(child: ChildProcess): Promise<void> {
  children.delete(child);
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

function load(port: number, seconds: number): Promise<AutocannonResult> {
  return new Promise((resolve, reject) => {
    autocannon({ url: `http://127.0.0.1:${port}/api/echo`, connections, duration: seconds }, (error, result) => (error === null ? resolve(result) : reject(error)));
  });
}

async function main(): Promise<void> {
  // This process is the load generator: pinned to the core the servers do not use.
  if (pin) spawnSync('taskset', ['-cp', String(cpus - 1), String(process.pid)]);
  const upstream = await startServer('upstream');
  const upstreamUrl = `http://127.0.0.1:${upstream.port}`;
  const rps = new Map<string, number[]>();
  const p99 = new Map<string, number[]>();
  for (let round = 0; round < rounds; round += 1) {
    // Alternate the order so that no variant always runs on a warmer (or busier) machine.
    const order = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
    for (const variant of order) {
      const front = variant.role === 'direct' ? undefined : await startServer(variant.role, upstreamUrl);
      const port = front?.port ?? upstream.port;
      await load(port, 1);
      const result = await load(port, duration);
      if (front !== undefined) await stop(front.child);
      if (result.errors > 0 || result.non2xx > 0) process.stderr.write(`${variant.role}: ${result.errors} errors, ${result.non2xx} non-2xx\n`);
      rps.set(variant.role, [...(rps.get(variant.role) ?? []), result.requests.total / duration]);
      p99.set(variant.role, [...(p99.get(variant.role) ?? []), result.latency.p99]);
      process.stderr.write(`round ${round + 1}/${rounds} ${variant.role}: ${Math.round(result.requests.total / duration)} req/s\n`);
    }
  }
  await stop(upstream.child);

  const mean = (values: number[]): number => values.reduce((sum, value) => sum + value, 0) / values.length;
  const base = mean(rps.get('twotier-http-proxy') ?? [1]);
  const rows = VARIANTS.map((variant) => ({
    variant: variant.role,
    label: variant.label,
    rps: Math.round(mean(rps.get(variant.role) ?? [0])),
    rpsPerRound: (rps.get(variant.role) ?? []).map((value) => Math.round(value)),
    p99Ms: Math.max(...(p99.get(variant.role) ?? [0])),
    ratioToDefault: Math.round((mean(rps.get(variant.role) ?? [0]) / base) * 100) / 100,
  }));
  const lines = [
    `Node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${cpus} CPUs, load average ${os.loadavg()[0]?.toFixed(1)}, pinned: ${pin}, ${connections} connections, ${rounds} × ${duration} s per variant`,
    '',
    '| Variant | req/s (mean) | per round | p99 ms (worst) | ÷ twotier http-proxy |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...rows.map((row) => `| ${row.label} | ${row.rps} | ${row.rpsPerRound.join(' / ')} | ${row.p99Ms} | ${row.ratioToDefault.toFixed(2)} |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (jsonFile !== undefined) {
    writeFileSync(jsonFile, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus, loadAverage: os.loadavg()[0], pinned: pin, connections, rounds, durationSec: duration, rows }, null, 2)}\n`);
  }
}

process.on('SIGINT', () => {
  for (const child of children) child.kill('SIGKILL');
  process.exit(130);
});
main().catch((error: unknown) => {
  for (const child of children) child.kill('SIGKILL');
  process.stderr.write(`proxy-compare: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
