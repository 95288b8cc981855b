/**
 * `npm start` (node dist/deploy/start.mjs) with WEB_PORT=0 and APP_PORT=0: both tiers come
 * up, the launcher reports where, requests cross both tiers, and stopping is clean either
 * way (a signal to the launcher, or one tier dying).
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { send } from '../helpers/app-tier.js';
import { ROOT } from '../helpers/pm2.js';
import { alive, spawnEntry, START_MAIN, type JsonLine, type Teardown } from '../helpers/web-tier.js';

interface Up {
  web: { port: number; pid: number; url: string };
  app: { port: number; pid: number; url: string };
}

async function launch(t: Teardown, extra: Record<string, string> = {}, detached = false) {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-start-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const launcher = spawnEntry(t, START_MAIN, { WEB_PORT: '0', APP_PORT: '0', APP_WORKERS: '1', DATABASE_URL: `sqlite:${join(dir, 'twotier.db')}`, ...extra }, [], { detached });
  const up = (await launcher.waitForLine((line) => line['msg'] === 'twotier is up', 30_000)) as JsonLine & Up;
  return { launcher, up };
}

/** Every pid a tier logged (the app's primary and workers, the web tier). */
function loggedPids(lines: readonly JsonLine[], tier: string): number[] {
  return [...new Set(lines.filter((line) => (line['service'] ?? line['tier']) === tier && typeof line['pid'] === 'number').map((line) => line['pid'] as number))];
}

t.test('npm start: both tiers up on the ports they chose, requests cross both, SIGTERM stops everything', async (t) => {
  const { launcher, up } = await launch(t);
  t.ok(up.web.port > 0 && up.app.port > 0);
  t.equal(up.app.url, `http://127.0.0.1:${up.app.port}`);
  const home = await send(`http://127.0.0.1:${up.web.port}/`);
  t.equal(home.status, 200);
  t.equal(home.headers['x-served-by'], 'static');
  const echo = await send(`http://127.0.0.1:${up.web.port}/api/echo?via=start`);
  t.equal(echo.status, 200);
  t.equal(echo.headers['x-served-by'], 'app');
  t.equal(echo.json<{ url: string }>().url, '/api/echo?via=start');
  // stdout carries whole JSON lines only: every line parsed.
  t.notOk(launcher.lines.some((line) => 'raw' in line), 'stdout is JSON lines');
  // The web tier runs with the V8 flags of deploy/node-flags.json, as under pm2 and in Docker.
  const webArgs = readFileSync(`/proc/${up.web.pid}/cmdline`, 'utf8').split('\0');
  for (const flag of (JSON.parse(readFileSync(join(ROOT, 'deploy', 'node-flags.json'), 'utf8')) as { web: string[] }).web) t.ok(webArgs.includes(flag), `web tier started with ${flag}`);
  t.ok(launcher.lines.some((line) => (line['service'] ?? line['tier']) === 'web' && line['msg'] === 'listening'), 'the children\'s lines are forwarded');

  const pids = [...loggedPids(launcher.lines, 'app'), ...loggedPids(launcher.lines, 'web')];
  t.ok(pids.length >= 3, 'app primary, app worker and web pids seen');
  launcher.child.kill('SIGTERM');
  t.same(await launcher.exited, { code: 0, signal: null });
  t.same(pids.filter(alive), [], 'no orphan processes');
  t.match(launcher.stderr(), new RegExp(`web tier on http://127\\.0\\.0\\.1:${up.web.port} → app tier on http://127\\.0\\.0\\.1:${up.app.port}`), 'says where each listens');
  t.match(launcher.stderr(), /SIGTERM: stopping the web tier, then the app tier/);
});

t.test('one tier dies: the other is stopped with a clear message, exit 1, no orphans', async (t) => {
  const { launcher, up } = await launch(t);
  const pids = [...loggedPids(launcher.lines, 'app'), ...loggedPids(launcher.lines, 'web')];
  process.kill(up.web.pid, 'SIGKILL');
  const exit = await launcher.exited;
  t.equal(exit.code, 1);
  t.match(launcher.stderr(), /the web tier exited \(SIGKILL\); stopping the app tier/);
  // The launcher waits for the app primary, which waits for its workers.
  t.same(pids.filter(alive), [], 'no orphan processes');
});

t.test('LOG_LEVEL=warn still starts (the launcher filters what it forwards)', async (t) => {
  const { launcher, up } = await launch(t, { LOG_LEVEL: 'warn' });
  t.equal((await send(`http://127.0.0.1:${up.web.port}/healthz`)).status, 200);
  t.notOk(launcher.lines.some((line) => (line['service'] ?? line['tier']) === 'web' && line['msg'] === 'listening'), 'info lines are not forwarded');
  launcher.child.kill('SIGINT');
  t.equal((await launcher.exited).code, 0);
});

t.test('Ctrl-C (SIGINT to the whole terminal process group): web stops first, then the app, exit 0', async (t) => {
  // detached: the launcher leads its own group, as it would at a terminal.
  const { launcher } = await launch(t, {}, true);
  const pids = [...loggedPids(launcher.lines, 'app'), ...loggedPids(launcher.lines, 'web')];
  process.kill(-(launcher.child.pid ?? 0), 'SIGINT');
  t.same(await launcher.exited, { code: 0, signal: null });
  const events = launcher.lines
    .filter((line) => line['msg'] === 'shutting down' || line['msg'] === 'tier stopped')
    .map((line) => (line['msg'] === 'tier stopped' ? `${String(line['stopped'])} stopped` : `${String(line['service'] ?? line['tier'])} shutting down`));
  const webStopped = events.indexOf('web stopped');
  const appStarts = events.indexOf('app shutting down');
  t.ok(webStopped !== -1 && appStarts > webStopped, `the web tier is gone before the app tier starts draining (${events.join(', ')})`);
  t.equal(events.at(-1), 'app stopped');
  t.same(pids.filter(alive), [], 'no orphan processes');
});

t.test('a bad flag or placement file: one clear line on stderr, exit 1, nothing started', async (t) => {
  for (const [args, message] of [
    [['--placment', 'multi-box'], /^twotier: unknown argument "--placment"; usage: npm start -- \[--placement/],
    [['--config', '/nonexistent/placement.json'], /^twotier: cannot read placement \/nonexistent\/placement\.json \(ENOENT\)/],
    [['--placement', 'multi-box'], /^twotier: placement multi-box puts the app tier on other boxes/],
  ] as const) {
    const launcher = spawnEntry(t, START_MAIN, {}, args);
    t.same(await launcher.exited, { code: 1, signal: null }, args.join(' '));
    t.match(launcher.stderr(), message);
    t.equal(launcher.stderr().trim().split('\n').length, 1, 'one line');
    t.same(launcher.lines, [], 'nothing on stdout');
  }
});

t.test('the banner (stderr) and LOG_PRETTY=1 labelled lines (stdout)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-start-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const launcher = spawnEntry(t, START_MAIN, { WEB_PORT: '0', APP_PORT: '0', APP_WORKERS: '2', LOG_PRETTY: '1', DATABASE_URL: `sqlite:${join(dir, 'twotier.db')}` });
  await launcher.waitForLine((line) => /^npm \| .*twotier is up/.test(String(line['raw'] ?? '')), 30_000);
  // stderr is complete once the launcher has exited (two pipes keep no order between them).
  launcher.child.kill('SIGTERM');
  t.equal((await launcher.exited).code, 0);
  const stderr = launcher.stderr();
  const webPort = /site\s+http:\/\/127\.0\.0\.1:(\d+)\//.exec(stderr)?.[1];
  t.ok(webPort, 'the site URL');
  t.match(stderr, new RegExp(`status page\\s+http://127\\.0\\.0\\.1:${webPort}/-/status`));
  t.match(stderr, new RegExp(`web metrics\\s+http://127\\.0\\.0\\.1:${webPort}/-/metrics`));
  t.match(stderr, /app metrics\s+http:\/\/127\.0\.0\.1:\d+\/metrics/);
  t.match(stderr, /placement\s+single-box/);
  t.match(stderr, /app workers\s+2/);
  t.match(stderr, /database\s+sqlite:/);
  const raw = launcher.lines.map((line) => String(line['raw'] ?? ''));
  t.ok(raw.some((line) => /^web \| .*listening/.test(line)), 'web lines carry the web label');
  t.ok(raw.some((line) => /^app \| .*listening/.test(line)), 'app lines carry the app label');
});

t.test('npm start checks both tiers before starting either; a placement value is named by its key in the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-start-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const placement = join(dir, 'bad-placement.json');
  writeFileSync(placement, JSON.stringify({ web: { port: 'eighty' }, app: { port: 0 } }));
  const db = `sqlite:${join(dir, 'twotier.db')}`;
  for (const [env, args, message] of [
    [{ WEB_PORT: 'nope' }, [], /^twotier: web tier: WEB_PORT must be an integer, got "nope"$/],
    [{ WEB_ROOT: join(dir, 'no-such-folder') }, [], new RegExp(`^twotier: web tier: WEB_ROOT: ${dir}/no-such-folder does not exist`)],
    [{}, ['--config', placement], new RegExp(`^twotier: ${placement}: web\\.port must be an integer, got "eighty"$`)],
  ] as const) {
    // No WEB_PORT here: the caller's env would win over the placement file's web.port.
    const base: Record<string, string> = { APP_PORT: '0', APP_WORKERS: '1', DATABASE_URL: db, APP_PID_FILE: join(dir, 'app.pid') };
    const launcher = spawnEntry(t, START_MAIN, { ...base, ...env }, args);
    t.same(await launcher.exited, { code: 1, signal: null }, JSON.stringify(env));
    const lines = launcher.stderr().trimEnd().split('\n');
    t.equal(lines.length, 1, `one line: ${launcher.stderr()}`);
    t.match(lines[0], message);
    t.same(launcher.lines, [], 'neither tier started: nothing on stdout');
  }
});
