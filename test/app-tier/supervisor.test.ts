import t, { type Test } from 'tap';
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { PassThrough } from 'node:stream';
import { join } from 'node:path';
import { createLogger } from '../../common/logger.js';
import { createSupervisor, type Supervisor } from '../../app-tier/supervisor.js';
import { ListenError } from '../../common/listen-error.js';
import { APP_MAIN, send } from '../helpers/app-tier.js';

const logger = createLogger({ tier: 'app', level: 'silent' });
const config = { workers: 2, shutdownTimeoutMs: 200, minUptimeMs: 1_000, restartDelayMs: 50, maxRestartDelayMs: 1_000 };

/** A worker script small enough to start fast: FIXTURE_MODE picks how it behaves. */
const FIXTURE = `
import { createServer } from 'node:http';
import { existsSync } from 'node:fs';
if (process.env.FIXTURE_MODE === 'crash') process.exit(3);
if (process.env.FIXTURE_MODE === 'slow-crash') setTimeout(() => process.exit(3), 300);
if (process.env.FIXTURE_MODE === 'taken') {
  const port = Number(process.env.TAKEN_PORT);
  const taken = createServer();
  // What app-tier/main.ts does when its listen fails under our primary.
  taken.on('error', (error) => process.send({ twotier: 'listen-failed', errno: error.code, host: '127.0.0.1', port }, undefined, undefined, () => process.exit(1)));
  taken.listen(port, '127.0.0.1');
} else if (process.env.FIXTURE_MODE !== 'slow-crash') {
if (process.env.CRASH_MARKER && existsSync(process.env.CRASH_MARKER)) process.exit(4);
const server = createServer((req, res) => res.end(String(process.pid)));
server.listen(0, '127.0.0.1');
process.on('SIGTERM', () => {
  if (process.env.FIXTURE_MODE !== 'stubborn') server.close(() => process.exit(0));
});
}
`;

function fixture(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-supervisor-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'worker.mjs');
  writeFileSync(file, FIXTURE);
  return file;
}

function supervise(t: Test, options: { exec: string; env: Record<string, string>; config?: Partial<typeof config>; logger?: typeof logger; onRestart?: (reason: 'crash' | 'reload') => void }): Supervisor {
  const supervisor = createSupervisor({ config: { ...config, ...options.config }, logger: options.logger ?? logger, cluster, exec: options.exec, execArgv: [], env: { NODE_OPTIONS: '', ...options.env }, onRestart: options.onRestart });
  t.teardown(async () => {
    await supervisor.close();
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
  });
  return supervisor;
}

t.test('workers that die at once are replaced with a growing back-off, then start() gives up', async (t) => {
  const events: { kind: 'fork' | 'exit'; at: number }[] = [];
  const onFork = (): void => { events.push({ kind: 'fork', at: performance.now() }); };
  const onExit = (): void => { events.push({ kind: 'exit', at: performance.now() }); };
  cluster.on('fork', onFork);
  cluster.on('exit', onExit);
  t.teardown(() => { cluster.off('fork', onFork); cluster.off('exit', onExit); });

  const restarts: string[] = [];
  // minUptimeMs far above any start-up time: on a loaded machine node itself may take over a
  // second to start, and a death after minUptimeMs is (rightly) not counted as a crash loop.
  const supervisor = supervise(t, { exec: fixture(t), env: { FIXTURE_MODE: 'crash' }, config: { workers: 1, minUptimeMs: 60_000 }, onRestart: (reason) => restarts.push(reason) });
  await t.rejects(supervisor.start(), /workers exit at start-up \(5 in a row, last exit code 3\)/);
  const forks = events.filter((event) => event.kind === 'fork');
  const exits = events.filter((event) => event.kind === 'exit');
  t.equal(forks.length, 5, 'no more forks than the start-up budget');
  // Each replacement waits restartDelayMs · 2^n after the death it replaces: 50, 100, 200, 400 ms.
  for (let index = 0; index < forks.length - 1; index += 1) {
    const waited = (forks[index + 1]?.at ?? 0) - (exits[index]?.at ?? 0);
    t.ok(waited >= 50 * 2 ** index - 2, `replacement ${index + 1} waited ${Math.round(waited)} ms`);
  }
  t.same(supervisor.pids(), [], 'nothing left running');
  t.same(restarts, ['crash', 'crash', 'crash', 'crash'], 'each replacement fork is reported as a crash restart');
});

/** Settles with `promise`, or rejects after `ms` (a supervisor that retries for ever). */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => (timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

t.test('a worker that dies before it ever listened is a failed start, however long it lived', async (t) => {
  let forks = 0;
  const onFork = (): void => void (forks += 1);
  cluster.on('fork', onFork);
  t.teardown(() => void cluster.off('fork', onFork));
  // Each worker lives 300 ms and more (node's start-up on a loaded box), far past minUptimeMs:
  // counting only deaths within minUptimeMs, the old supervisor replaced them for ever.
  const supervisor = supervise(t, { exec: fixture(t), env: { FIXTURE_MODE: 'slow-crash' }, config: { workers: 1, minUptimeMs: 50, restartDelayMs: 10 } });
  await t.rejects(within(supervisor.start(), 60_000), /workers exit at start-up \(5 in a row, last exit code 3\)/);
  t.equal(forks, 5, 'the start-up budget, then no more forks');
});

t.test('a worker that cannot bind ends start() at once with a ListenError naming the address', async (t) => {
  const holder = createServer();
  holder.listen(0, '127.0.0.1');
  await once(holder, 'listening');
  t.teardown(() => new Promise<void>((resolve) => holder.close(() => resolve())));
  const port = (holder.address() as { port: number }).port;
  let forks = 0;
  const onFork = (): void => void (forks += 1);
  cluster.on('fork', onFork);
  t.teardown(() => void cluster.off('fork', onFork));
  const supervisor = supervise(t, { exec: fixture(t), env: { FIXTURE_MODE: 'taken', TAKEN_PORT: String(port) }, config: { workers: 2 } });
  const error = await within(supervisor.start(), 30_000).then(() => undefined, (failure: unknown) => failure);
  t.type(error, ListenError);
  t.match(error, { errno: 'EADDRINUSE', host: '127.0.0.1', port, message: `cannot listen on 127.0.0.1:${port} (EADDRINUSE)` });
  await supervisor.close();
  t.equal(forks, 2, 'no replacement forks after a failed bind');
});

t.test('close() sends SIGTERM, and SIGKILL to a worker that will not exit', async (t) => {
  const supervisor = supervise(t, { exec: fixture(t), env: { FIXTURE_MODE: 'stubborn' } });
  const address = await supervisor.start();
  t.equal(address.address, '127.0.0.1');
  const pids = supervisor.pids();
  t.equal(pids.length, 2);
  const exits: Promise<[Worker, number | null, string | null]>[] = Object.values(cluster.workers ?? {}).map((worker) => once(worker as Worker, 'exit').then(([code, signal]) => [worker as Worker, code as number | null, signal as string | null]));
  await supervisor.close();
  for (const [, , signal] of await Promise.all(exits)) t.equal(signal, 'SIGKILL');
  t.same(supervisor.pids(), []);
});

t.test('reload replaces each worker; a new worker that cannot start stops the reload and the old ones keep serving', async (t) => {
  const exec = fixture(t);
  const marker = `${exec}.crash`;
  const messages: string[] = [];
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => { for (const line of chunk.toString().split('\n').filter(Boolean)) messages.push((JSON.parse(line) as { msg: string }).msg); });
  const restarts: string[] = [];
  const supervisor = supervise(t, { exec, env: { CRASH_MARKER: marker }, logger: createLogger({ tier: 'app', level: 'info', destination: sink }), onRestart: (reason) => restarts.push(reason) });
  const address = await supervisor.start();
  const original = supervisor.pids();
  await supervisor.reload();
  const reloaded = supervisor.pids();
  t.equal(reloaded.length, 2);
  t.same(restarts, ['reload', 'reload'], 'each replacement is reported as a reload restart');
  for (const pid of reloaded) t.notOk(original.includes(pid), 'every worker is new');

  writeFileSync(marker, '');
  await t.rejects(supervisor.reload(), /reload stopped: new worker \d+ exited before listening/);
  t.same(supervisor.pids().sort(), [...reloaded].sort(), 'the old workers are untouched');
  t.notOk(messages.includes('worker died; replacing it'), 'the failed new worker is not replaced (no crash loop)');
  t.same(restarts, ['reload', 'reload'], 'a new worker that never listened is no restart');
  const reply = await send(`http://127.0.0.1:${address.port}/`);
  t.ok(reloaded.includes(Number(reply.text)), 'still served by them');
});

t.test('pm2-style: workers running main.js migrate one fresh file at once, say ready, and drain on SIGINT', { skip: existsSync(APP_MAIN) ? false : 'dist/app-tier/main.js is not built' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-pm2-style-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ready = new Set<number>();
  const onMessage = (worker: Worker, message: unknown): void => {
    if (message === 'ready') ready.add(worker.process.pid ?? 0);
  };
  cluster.on('message', onMessage);
  t.teardown(() => cluster.off('message', onMessage));
  const supervisor = supervise(t, {
    exec: APP_MAIN,
    env: { APP_HOST: '127.0.0.1', APP_PORT: '0', DATABASE_URL: `sqlite:${join(dir, 'data', 'shared.db')}`, LOG_LEVEL: 'silent', APP_TOKEN: '', APP_WORKERS: '' },
    config: { workers: 3 },
  });
  const address = await supervisor.start();
  const list = await send(`http://127.0.0.1:${address.port}/api/articles/`);
  t.equal(list.status, 200);
  t.equal(list.json<{ total: number }>().total, 3, 'three workers opened a fresh file at once and seeded it once');
  while (ready.size < 3) await once(cluster, 'message');
  t.same([...ready].sort(), supervisor.pids().sort(), 'every worker sent "ready"');

  const workers = Object.values(cluster.workers ?? {}) as Worker[];
  const exits = workers.map((worker) => once(worker, 'exit'));
  for (const worker of workers) worker.process.kill('SIGINT');
  for (const [code, signal] of await Promise.all(exits)) t.same([code, signal], [0, null], 'SIGINT → graceful exit 0');
});
