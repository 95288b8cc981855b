/**
 * Start-up failures of the built tiers are start-up failures: a port already in use ends the
 * app tier (and a clustered web tier) with exit 1 and one line naming the address, however
 * slowly its workers die; bad input names the real problem (a WEB_ROOT that does not exist).
 */
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { APP_MAIN, tempDataDir } from '../helpers/app-tier.js';
import { cleanEnv, WEB_MAIN } from '../helpers/web-tier.js';

/** A port held by this test for its whole run. */
async function takenPort(t: Test): Promise<number> {
  const server: Server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as { port: number }).port;
}

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs an entry to its end, in its own process group, killed (the group) after `boundMs`: a
 * tier that retries for ever shows up as SIGKILL instead of hanging the test.
 */
async function runToEnd(t: Test, script: string, env: Record<string, string>, cwd: string, args: readonly string[] = [], boundMs = 30_000): Promise<Ran> {
  const child = spawn(process.execPath, [script, ...args], { env: cleanEnv({ LOG_PRETTY: '0', ...env }), cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const kill = (): void => {
    try {
      process.kill(-(child.pid ?? 0), 'SIGKILL');
    } catch {
      // The group is gone: the usual case.
    }
  };
  t.teardown(kill);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(kill, boundMs);
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  kill();
  return { code, signal, stdout, stderr };
}

function oneLine(t: Test, ran: Ran, pattern: RegExp): void {
  t.same({ code: ran.code, signal: ran.signal }, { code: 1, signal: null }, `exit 1 (stderr: ${ran.stderr})`);
  const lines = ran.stderr.trimEnd().split('\n');
  t.equal(lines.length, 1, `one line on stderr: ${ran.stderr}`);
  t.match(lines[0], pattern);
}

t.test('app tier, port in use: exit 1 with one line naming the address, even when workers are slow to die', async (t) => {
  const port = await takenPort(t);
  const dir = tempDataDir(t);
  // minUptimeMs far below a worker's start-up time: the old crash-loop rule never counted
  // these deaths as a failed start and restarted them for ever.
  const config = join(dir, 'app.json');
  writeFileSync(config, JSON.stringify({ minUptimeMs: 1 }));
  const ran = await runToEnd(t, APP_MAIN, { APP_HOST: '127.0.0.1', APP_PORT: String(port), APP_WORKERS: '2', DATABASE_URL: `sqlite:${join(dir, 'x.db')}` }, dir, ['--config', config]);
  oneLine(t, ran, new RegExp(`^twotier app: cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\); set APP_HOST/APP_PORT$`));
  t.notMatch(ran.stdout, /worker died; replacing it/, 'no restart loop');
});

t.test('web tier with WEB_WORKERS=2, port in use: exit 1 with one line naming the address', async (t) => {
  const port = await takenPort(t);
  const dir = tempDataDir(t);
  const ran = await runToEnd(t, WEB_MAIN, { WEB_HOST: '127.0.0.1', WEB_PORT: String(port), WEB_WORKERS: '2' }, dir);
  oneLine(t, ran, new RegExp(`^twotier web: cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\); set WEB_HOST/WEB_PORT$`));
});

t.test('web tier: a WEB_ROOT that does not exist is an error naming the path', async (t) => {
  const dir = tempDataDir(t);
  const ran = await runToEnd(t, WEB_MAIN, { WEB_HOST: '127.0.0.1', WEB_PORT: '0', WEB_ROOT: join(dir, 'no-such-folder') }, dir);
  oneLine(t, ran, new RegExp(`^twotier web: WEB_ROOT: ${dir}/no-such-folder does not exist`));
  writeFileSync(join(dir, 'a-file'), '');
  const file = await runToEnd(t, WEB_MAIN, { WEB_HOST: '127.0.0.1', WEB_PORT: '0', WEB_ROOT: join(dir, 'a-file') }, dir);
  oneLine(t, file, new RegExp(`^twotier web: WEB_ROOT: ${dir}/a-file is not a directory`));
});
