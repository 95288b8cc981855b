/**
 * APP_MODULE on the real, built app tier (issue 18): a module that cannot be run stops start-up
 * with exit 1 and its one line (not found, no default export, wrong shape, createApp throwing or
 * rejecting, a timeout), also through --app; never a crash loop. A request that throws or rejects
 * is that request's 500 with its request id, and the worker keeps serving. close() is awaited when
 * a worker drains (SIGTERM, and a rolling reload). APP_MAX_REQUESTS retires a worker and the
 * supervisor starts a fresh one, every request still answered.
 */
import t from 'tap';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runAppTier, send, startAppTier, tempDataDir } from '../helpers/app-tier.js';

t.setTimeout(300_000);

const FIXTURES = fileURLToPath(new URL('../fixtures/app-modules/', import.meta.url));
const HELLO = fileURLToPath(new URL('../../examples/hello/app.js', import.meta.url));
const LIFECYCLE = join(FIXTURES, 'lifecycle.mjs');

const START_FAILURES: readonly { name: string; env: Record<string, string>; args?: string[]; line: RegExp }[] = [
  { name: 'not found', env: { APP_MODULE: join(FIXTURES, 'missing.mjs') }, line: /^twotier app: APP_MODULE: cannot find .*missing\.mjs/ },
  { name: 'no default export', env: { APP_MODULE: join(FIXTURES, 'no-default.mjs') }, line: /no default export/ },
  { name: 'wrong shape', env: { APP_MODULE: join(FIXTURES, 'object-export.mjs') }, line: /default export is an object, not a function createApp/ },
  { name: 'createApp throws', env: { APP_MODULE: join(FIXTURES, 'throws.mjs') }, line: /createApp in .* failed: no DATABASE_URL for the hello app/ },
  { name: 'createApp rejects', env: { APP_MODULE: join(FIXTURES, 'rejects.mjs') }, line: /failed: cannot reach the cache/ },
  { name: 'never resolves', env: { APP_MODULE: join(FIXTURES, 'never.mjs'), APP_MODULE_TIMEOUT_MS: '500' }, line: /did not finish loading .* within 500 ms \(APP_MODULE_TIMEOUT_MS\)/ },
  { name: '--app names the module', env: {}, args: ['--app', join(FIXTURES, 'rejects.mjs')], line: /failed: cannot reach the cache/ },
];

for (const failure of START_FAILURES) {
  t.test(`a module that cannot run stops start-up in one line: ${failure.name}`, async (t) => {
    const dir = tempDataDir(t);
    const result = await runAppTier({ APP_WORKERS: '2', DATABASE_URL: `sqlite:${join(dir, 'db')}`, APP_PID_FILE: join(dir, 'app.pid'), ...failure.env }, failure.args ?? [], dir);
    t.equal(result.code, 1, 'exit 1');
    const lines = result.stderr.trim().split('\n');
    t.equal(lines.length, 1, `one line on stderr: ${result.stderr}`);
    t.match(lines[0], failure.line);
    t.notMatch(result.stdout, /worker (forked|died)/, 'no worker was started: not a crash loop');
  });
}

t.test('the hello example through --app', async (t) => {
  const app = await startAppTier(t, { workers: 1, args: ['--app', HELLO], readyTimeoutMs: 60_000 });
  const reply = await send(`${app.url}/`);
  t.same([reply.status, reply.headers['content-type'], reply.text], [200, 'text/plain', 'Hello world!\n']);
});

t.test('a failing request is its own 500; close() is awaited on reload and on drain', async (t) => {
  const closeFile = join(tempDataDir(t), 'closed');
  const app = await startAppTier(t, { workers: 2, env: { APP_MODULE: LIFECYCLE, LIFECYCLE_CLOSE_FILE: closeFile }, readyTimeoutMs: 60_000 });
  for (const path of ['/api/throw', '/api/reject', '/api/shape']) {
    const reply = await send(`${app.url}${path}`, { headers: { 'X-Request-Id': `id-${path.slice(5)}` } });
    t.equal(reply.status, 500, `${path} → 500`);
    t.equal(reply.json<{ error: { requestId: string } }>().error.requestId, `id-${path.slice(5)}`, `${path}: the body names the request id`);
  }
  const after = await send(`${app.url}/api/ok`);
  t.equal(after.status, 200, 'the workers keep serving');
  t.equal(after.json<{ mode: string }>().mode, 'persistent', 'context.mode');

  const closedBy = (): string[] => readdirSync(join(closeFile, '..')).filter((name) => name.startsWith('closed.'));
  // A rolling reload retires each old worker: each one's close() has finished before it exits.
  app.child.kill('SIGHUP');
  await app.waitForLine((line) => line.msg === 'reload finished', 60_000);
  // (The primary's own start-up check built and closed one too: closed.<primary pid>.)
  for (const pid of app.workerPids) t.ok(closedBy().includes(`closed.${pid}`), `old worker ${pid} ran close() to its end before it exited`);
  const reloaded = (app.lines.find((line) => line.msg === 'reload finished')?.['workers'] ?? []) as number[];
  app.child.kill('SIGTERM');
  const exit = await app.exited();
  t.equal(exit.code, 0, 'the tier stopped cleanly');
  for (const pid of reloaded) t.ok(existsSync(`${closeFile}.${pid}`), `worker ${pid} ran close() on SIGTERM`);
});

t.test('APP_MAX_REQUESTS: a worker retires after its requests, a fresh one takes over, nothing is lost', async (t) => {
  const app = await startAppTier(t, { workers: 2, env: { APP_MODULE: LIFECYCLE, APP_MAX_REQUESTS: '3', APP_MAX_REQUESTS_JITTER: '1' }, readyTimeoutMs: 60_000 });
  const pids = new Set<number>();
  const retired = (): number => app.lines.filter((line) => line.msg === 'max requests reached: draining for a fresh worker').length;
  const listened = (): number => app.lines.filter((line) => line.msg === 'worker listening').length;
  for (let index = 0; index < 16; index += 1) {
    // Paced like a light load: a retired worker's replacement listens before the next request.
    // Under steady load the primary replaces one worker at a time: max-requests-rolling.test.ts.
    const before = retired();
    const reply = await send(`${app.url}/api/count`);
    t.equal(reply.status, 200, `request ${index + 1} answered`);
    const body = reply.json<{ pid: number; served: number }>();
    t.ok(body.served <= 4, `worker ${body.pid} served ${body.served} ≤ 3 + jitter`);
    pids.add(body.pid);
    if (retired() > before) {
      const target = 2 + retired();
      await app.waitForLine(() => listened() >= target, 60_000);
    }
  }
  t.ok(pids.size > 2, `more workers than APP_WORKERS answered over time (${pids.size})`);
  t.ok(app.lines.some((line) => line.msg === 'max requests reached: draining for a fresh worker'), 'the retirement is logged');
});
