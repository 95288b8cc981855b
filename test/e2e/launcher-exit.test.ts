/**
 * Every process of the deployment exits when its launcher is gone, however it went: SIGTERM or
 * SIGKILL to npm (`npm start`, `npm run app`, `npm run web`), SIGKILL to deploy/start.mjs.
 * npm forwards SIGTERM only to the shell that runs the script, so without the tiers' own watch
 * (common/parent-watch.ts) they were re-parented to init and kept serving.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { followChild } from '../helpers/child-lines.js';
import { ROOT } from '../helpers/pm2.js';
import { alive, cleanEnv, spawnEntry, START_MAIN, type JsonLine, type SpawnedEntry, type Teardown } from '../helpers/web-tier.js';

interface Up {
  web: { port: number; pid: number; url: string };
  app: { port: number; pid: number; url: string };
}

/** Every pid a tier logged (the app's primary and workers, the web tier). */
function loggedPids(lines: readonly JsonLine[], tier: string): number[] {
  return [...new Set(lines.filter((line) => (line['service'] ?? line['tier']) === tier && typeof line['pid'] === 'number').map((line) => line['pid'] as number))];
}

function tempDir(t: Teardown): string {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-launcher-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Kills a process group, or a process; silent when it is gone. */
function killGroupAndPid(pid: number): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // Gone: the usual case.
    }
  }
}

/**
 * `npm run <script>` from the package root, as a person runs it, leading its own process group.
 * Teardown kills that group and every pid (and group: the tiers lead their own) the lines named.
 */
function spawnNpm(t: Teardown, args: readonly string[], env: Record<string, string>): SpawnedEntry {
  const child = spawn('npm', args, { cwd: ROOT, env: cleanEnv({ LOG_PRETTY: '0', ...env }), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const npm = followChild(child, { waitMs: 60_000 });
  t.teardown(() => {
    killGroupAndPid(child.pid ?? 0);
    for (const line of npm.lines) {
      for (const pid of [line['pid'], (line['web'] as { pid?: unknown } | undefined)?.pid, (line['app'] as { pid?: unknown } | undefined)?.pid]) {
        if (typeof pid === 'number') killGroupAndPid(pid);
      }
    }
  });
  return npm;
}

/**
 * Resolves with the pids still alive once all are gone or `boundMs` has passed. Polled: these
 * are grandchildren whose exit no event of ours reports.
 */
async function aliveAfter(pids: readonly number[], boundMs: number): Promise<number[]> {
  const deadline = Date.now() + boundMs;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  return pids.filter(alive);
}

function stopOrder(lines: readonly JsonLine[]): string[] {
  return lines
    .filter((line) => line['msg'] === 'shutting down' || line['msg'] === 'tier stopped')
    .map((line) => (line['msg'] === 'tier stopped' ? `${String(line['stopped'])} stopped` : `${String(line['service'] ?? line['tier'])} shutting down`));
}

async function npmStart(t: Teardown): Promise<{ npm: SpawnedEntry; pids: number[] }> {
  const dir = tempDir(t);
  const npm = spawnNpm(t, ['start'], { WEB_PORT: '0', APP_PORT: '0', APP_WORKERS: '1', DATABASE_URL: `sqlite:${join(dir, 'twotier.db')}`, APP_PID_FILE: join(dir, 'app.pid') });
  const up = (await npm.waitForLine((line) => line['msg'] === 'twotier is up')) as JsonLine & Up & { pid: number };
  const pids = [up.pid, ...loggedPids(npm.lines, 'app'), ...loggedPids(npm.lines, 'web')];
  return { npm, pids };
}

for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
  t.test(`${signal} to npm (npm start): the launcher and both tiers stop, web first, then the app`, async (t) => {
    const { npm, pids } = await npmStart(t);
    t.ok(pids.length >= 4, 'launcher, app primary, app worker and web pids seen');
    // npm forwards SIGTERM to the shell running the script only (SIGKILL reaches nobody else).
    process.kill(npm.child.pid ?? 0, signal);
    t.same(await aliveAfter(pids, 30_000), [], 'no process left behind');
    const events = stopOrder(npm.lines);
    const webStopped = events.indexOf('web stopped');
    t.ok(webStopped !== -1 && events.indexOf('app shutting down') > webStopped, `the web tier is gone before the app tier starts draining (${events.join(', ')})`);
  });
}

t.test('SIGKILL to the launcher (node dist/deploy/start.mjs): each tier stops by itself', async (t) => {
  const dir = tempDir(t);
  const launcher = spawnEntry(t, START_MAIN, { WEB_PORT: '0', APP_PORT: '0', APP_WORKERS: '1', DATABASE_URL: `sqlite:${join(dir, 'twotier.db')}`, APP_PID_FILE: join(dir, 'app.pid') });
  await launcher.waitForLine((line) => line['msg'] === 'twotier is up', 60_000);
  const pids = [...loggedPids(launcher.lines, 'app'), ...loggedPids(launcher.lines, 'web')];
  t.ok(pids.length >= 3);
  launcher.child.kill('SIGKILL');
  await launcher.exited;
  t.same(await aliveAfter(pids, 30_000), [], 'no orphan serving on');
});

t.test('npm run app / npm run web killed through npm: the tier stops', async (t) => {
  const dir = tempDir(t);
  const app = spawnNpm(t, ['run', 'app'], { APP_PORT: '0', APP_WORKERS: '1', DATABASE_URL: `sqlite:${join(dir, 'twotier.db')}`, APP_PID_FILE: join(dir, 'app.pid') });
  const web = spawnNpm(t, ['run', 'web'], { WEB_PORT: '0' });
  await Promise.all([app.waitForLine((line) => line['msg'] === 'listening' && line['role'] === 'primary'), web.waitForLine((line) => line['msg'] === 'listening')]);
  const pids = [...loggedPids(app.lines, 'app'), ...loggedPids(web.lines, 'web')];
  t.ok(pids.length >= 3, 'app primary, app worker and web pids seen');
  process.kill(app.child.pid ?? 0, 'SIGTERM');
  process.kill(web.child.pid ?? 0, 'SIGTERM');
  t.same(await aliveAfter(pids, 30_000), [], 'no process left behind');
});
