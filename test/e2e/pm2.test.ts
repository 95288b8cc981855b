/**
 * pm2 with the real ecosystem file: both apps come up (app in cluster mode with wait_ready),
 * the site answers through the web tier, and `pm2 reload app` under a bounded autocannon load
 * through the web tier completes with zero failed requests.
 * Runs in its own network namespace: the ecosystem's ports are fixed (8080, 3000), and only
 * there can a fixed port never collide with another test or service.
 */
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNetns, netnsSkipReason, uniqueTag } from '../helpers/netns.js';
import { ECOSYSTEM, PM2_BIN, RELOAD_UNDER_LOAD, ROOT, startPm2 } from '../helpers/pm2.js';

const built = existsSync(join(ROOT, 'dist', 'app-tier', 'main.js')) && existsSync(join(ROOT, 'dist', 'web-tier', 'main.js'));
const skip = netnsSkipReason() || (built ? false : 'dist/ is not built (npx tsc -p tsconfig.build.json)');

interface LoadResult {
  reload: { code: number | null; startedAt: number; endedAt: number };
  total: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  resets: number;
  status: Record<string, { count: number }>;
}

t.test('pm2 ecosystem: start, serve, reload app under load with zero failed requests', { skip }, async (t) => {
  const netns = await createNetns(t, `twotier-pm2-${uniqueTag()}`);
  const dir = mkdtempSync(join(tmpdir(), 'twotier-pm2-data-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    HOME: dir,
    APP_INSTANCES: '2',
    DATABASE_URL: `sqlite:${join(dir, 'twotier.db')}`,
    // Short drain bounds keep the test quick; kill_timeout follows them (ecosystem.config.js).
    APP_SHUTDOWN_TIMEOUT_MS: '3000',
    WEB_SHUTDOWN_TIMEOUT_MS: '3000',
  };
  const pm2 = startPm2(t, netns, env);
  await pm2.run(['start', ECOSYSTEM], 90_000);
  await pm2.waitForLog('web', (line) => line['msg'] === 'listening');
  const before = await pm2.list();
  t.same(before.map((p) => `${p.name}:${p.status}`).sort(), ['app:online', 'app:online', 'web:online'], 'two app instances (cluster) and one web process online');

  // The site through the web tier, inside the namespace.
  const probe = await netns.exec(process.execPath, ['-e', `fetch('http://127.0.0.1:8080/api/echo').then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, servedBy: r.headers.get('x-served-by'), body: await r.json() })))`], { env });
  const echo = JSON.parse(probe.stdout) as { status: number; servedBy: string; body: { worker?: { pid?: number } } };
  t.equal(echo.status, 200);
  t.equal(echo.servedBy, 'app');
  t.ok(before.some((p) => p.name === 'app' && p.pid === echo.body.worker?.pid), 'answered by a pm2 app instance');

  const reloadUnderLoad = async (method: 'GET' | 'POST'): Promise<{ result: LoadResult; failures: Record<string, number>; webProblems: string[] }> => {
    const out = await netns.exec(process.execPath, ['--input-type=module', '-e', RELOAD_UNDER_LOAD, 'http://127.0.0.1:8080/api/echo', PM2_BIN, method], { env: pm2.env, timeout: 120_000 });
    const result = JSON.parse(out.stdout.trim().split('\n').at(-1) ?? '{}') as LoadResult;
    t.equal(result.reload.code, 0, `${method}: pm2 reload app exited 0`);
    t.ok(result.reload.endedAt > 0, `${method}: the reload finished while the load was running`);
    t.ok(result.total > 100, `${method}: requests were sent during the reload (${result.total})`);
    const failures = { errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx, resets: result.resets };
    // On failure, the web tier's own account of each failed request (pino lines in pm2's log).
    const webProblems = readFileSync(join(pm2.home, 'logs', 'web-out.log'), 'utf8').split('\n').filter((line) => /"level":(40|50)/.test(line)).slice(0, 5);
    return { result, failures, webProblems };
  };

  const get = await reloadUnderLoad('GET');
  t.same(get.failures, { errors: 0, timeouts: 0, non2xx: 0, resets: 0 }, `GET: zero failed requests (status codes: ${JSON.stringify(get.result.status)})`, { webProblems: get.webProblems });
  const between = await pm2.list();

  const post = await reloadUnderLoad('POST');
  // POSTs cannot be replayed after a reset (RFC 9112 §9.3.1), so this holds only because the
  // draining instance never closes a keep-alive connection under the proxy: it stops listening
  // with net.Server's close (http.Server's also closes idle connections since Node 19), answers
  // what still arrives with Connection: close during APP_DRAIN_GRACE_MS, and the proxy's FIFO
  // pool rotates through every socket well within that grace.
  t.same(post.failures, { errors: 0, timeouts: 0, non2xx: 0, resets: 0 }, `POST: zero failed requests (status codes: ${JSON.stringify(post.result.status)})`, {
    webProblems: post.webProblems,
  });

  const after = await pm2.list();
  const oldPids = new Set([...before, ...between].filter((p) => p.name === 'app').map((p) => p.pid));
  const appAfter = after.filter((p) => p.name === 'app');
  t.equal(appAfter.length, 2);
  t.ok(appAfter.every((p) => p.status === 'online' && !oldPids.has(p.pid)), 'both app instances were replaced at each reload');
});
