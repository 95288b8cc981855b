/**
 * The real pm2, with its own PM2_HOME in a temp dir (its daemon, sockets and logs live there,
 * never in ~/.pm2), run inside a network namespace so the ecosystem's fixed ports (8080, 3000)
 * cannot collide with anything. Teardown always runs `pm2 kill` for that daemon, then the
 * namespace teardown kills whatever is left.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import type { Netns } from './netns.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const PM2_BIN = join(ROOT, 'node_modules', 'pm2', 'bin', 'pm2');
export const ECOSYSTEM = join(ROOT, 'deploy', 'ecosystem.config.js');
const AUTOCANNON = join(ROOT, 'node_modules', 'autocannon', 'autocannon.js');

export interface Pm2 {
  readonly home: string;
  readonly env: NodeJS.ProcessEnv;
  /** Runs `pm2 …args` inside the namespace and returns its stdout. */
  run(args: readonly string[], timeoutMs?: number): Promise<string>;
  /**
   * Resolves once a line of an app's stdout log (PM2_HOME/logs/<name>-out.log) matches: the
   * web tier has no pm2 ready signal (no wait_ready), so `pm2 start` returns before it listens.
   */
  waitForLog(app: string, match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** `pm2 jlist`: name, pid and status of every process. */
  list(): Promise<Array<{ name: string; pid: number; status: string; restarts: number }>>;
}

export function startPm2(t: Test, netns: Netns, env: NodeJS.ProcessEnv): Pm2 {
  const home = mkdtempSync(join(tmpdir(), 'twotier-pm2-'));
  mkdirSync(join(home, 'logs'));
  const fullEnv: NodeJS.ProcessEnv = { ...env, PM2_HOME: home };
  const run = async (args: readonly string[], timeoutMs = 60_000): Promise<string> => (await netns.exec(process.execPath, [PM2_BIN, ...args], { env: fullEnv, timeout: timeoutMs })).stdout;
  t.teardown(async () => {
    await run(['kill'], 30_000).catch(() => undefined);
    rmSync(home, { recursive: true, force: true });
  });
  const waitForLog = (app: string, match: (line: Record<string, unknown>) => boolean, timeoutMs = 30_000): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const file = join(home, 'logs', `${app}-out.log`);
      const check = (): boolean => {
        if (!existsSync(file)) return false;
        for (const text of readFileSync(file, 'utf8').split('\n')) {
          try {
            const line = JSON.parse(text) as Record<string, unknown>;
            if (match(line)) {
              finish();
              resolve(line);
              return true;
            }
          } catch {
            // A partly written line; the next change event reads it whole.
          }
        }
        return false;
      };
      const watcher = watch(join(home, 'logs'), () => void check());
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`no matching line in ${file} within ${timeoutMs} ms`));
      }, timeoutMs);
      const finish = (): void => {
        watcher.close();
        clearTimeout(timer);
      };
      check();
    });
  return {
    home,
    env: fullEnv,
    run,
    waitForLog,
    async list() {
      const out = await run(['jlist']);
      const start = out.indexOf('[');
      const items = JSON.parse(out.slice(start)) as Array<{ name: string; pid: number; pm2_env: { status: string; restart_time: number } }>;
      return items.map((item) => ({ name: item.name, pid: item.pid, status: item.pm2_env.status, restarts: item.pm2_env.restart_time }));
    },
  };
}

/**
 * Runs inside the namespace: bounded autocannon load (argv: url, pm2 bin, GET|POST) on the web tier, and `pm2 reload app`
 * once the first response is in; the load stops shortly after the reload ends (or at the
 * request/time bound). Prints one JSON line with autocannon's totals and the reload's exit code.
 */
export const RELOAD_UNDER_LOAD = `
import autocannon from ${JSON.stringify(AUTOCANNON)};
import { spawn } from 'node:child_process';
const [url, pm2Bin, method] = process.argv.slice(1);
let reload = { code: null, startedAt: 0, endedAt: 0 };
// POST: the web tier never retries it on a reset (not idempotent), so a request cut by a
// worker that stops without draining shows up as a failure instead of being replayed.
const body = method === 'POST' ? { headers: { 'content-type': 'application/json' }, body: '{"during":"reload"}' } : {};
const instance = autocannon({ url, method, ...body, connections: 8, amount: 40000, duration: 60, timeout: 10 });
instance.once('response', () => {
  reload.startedAt = Date.now();
  const child = spawn(process.execPath, [pm2Bin, 'reload', 'app'], { stdio: 'ignore', env: process.env });
  child.on('exit', (code) => {
    reload.code = code;
    reload.endedAt = Date.now();
    // Keep the load on the new workers a moment, so their first requests count too.
    setTimeout(() => instance.stop(), 500);
  });
});
instance.on('done', (result) => {
  process.stdout.write(JSON.stringify({ reload, total: result.requests.total, errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx, resets: result.resets, status: result.statusCodeStats }) + '\\n');
});
`;
