/**
 * The proxy-loop guard as an operator meets it (npm run web, the built entry): an upstream that
 * names the web tier's own listener is exit 1 with one line naming the variable and the value;
 * and a clustered web tier (WEB_WORKERS=2) pointed at its own port by a SIGHUP reload answers
 * 508 at the second pass, wherever the looped copy lands: the workers share their primary's
 * instance token (web-tier/cluster.ts), so one worker recognises the other's Via element.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnEntry, WEB_MAIN, type JsonLine } from '../helpers/web-tier.js';

function get(port: number, path: string): Promise<{ status: number; id: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { accept: 'application/json' }, agent: false, signal: AbortSignal.timeout(10_000) }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, id: String(res.headers['x-request-id']) }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('APP_UPSTREAMS naming the web tier\'s own port: exit 1, one line naming the variable and the value', async (t) => {
  // The check runs before anything listens: this port is never bound.
  const web = spawnEntry(t, WEB_MAIN, { WEB_HOST: '127.0.0.1', WEB_PORT: '18089', APP_UPSTREAMS: 'http://localhost:18089' });
  t.same(await web.exited, { code: 1, signal: null });
  const lines = web.stderr().trimEnd().split('\n');
  t.equal(lines.length, 1, `one line: ${web.stderr()}`);
  t.match(lines[0], /^twotier web: APP_UPSTREAMS \(proxy\.upstreams\[0\]\): must not be this web tier's own listener \(WEB_HOST 127\.0\.0\.1, WEB_PORT 18089\).*got "http:\/\/localhost:18089"$/);
});

t.test('WEB_WORKERS=2 pointed at itself by a reload: every request 508 after exactly two passes, across workers', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-proxy-loop-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'web.json');
  writeFileSync(file, JSON.stringify({ proxy: { upstreams: ['http://127.0.0.1:9'], activeHealth: { intervalMs: 0 } } }));
  const web = spawnEntry(t, WEB_MAIN, { WEB_HOST: '127.0.0.1', WEB_PORT: '0', WEB_WORKERS: '2' }, ['--config', file]);
  await web.waitForLine((line) => line['msg'] === 'web cluster ready');
  const listening = (): JsonLine[] => web.lines.filter((line) => line['msg'] === 'listening');
  await web.waitForLine(() => listening().length >= 2);
  const port = listening()[0]?.['port'] as number;
  const workers = listening().map((line) => line['pid']);

  writeFileSync(file, JSON.stringify({ proxy: { upstreams: [`http://127.0.0.1:${port}`], activeHealth: { intervalMs: 0 } } }));
  web.child.kill('SIGHUP');
  for (const pid of workers) await web.waitForLine((line) => line['msg'] === 'config reloaded' && line['pid'] === pid);

  const paths = Array.from({ length: 30 }, (_, index) => `/api/echo?n=${index}`);
  const replies = await Promise.all(paths.map((path) => get(port, path)));
  t.same([...new Set(replies.map((reply) => reply.status))], [508]);
  const passes = (path: string): JsonLine[] => web.lines.filter((line) => line['msg'] === 'request' && line['url'] === path);
  await web.waitForLine(() => paths.every((path) => passes(path).length >= 2), 10_000);
  t.same(paths.filter((path) => passes(path).length !== 2), [], 'each request passed twice, never three times');
  const crossed = paths.filter((path) => new Set(passes(path).map((line) => line['pid'])).size === 2);
  t.ok(crossed.length > 0, `some looped copies landed on the other worker and were still caught at once (${crossed.length} of ${paths.length})`);
  t.ok(web.lines.some((line) => line['code'] === 'WEB_ERR_LOOP_DETECTED' && line['setting'] === 'APP_UPSTREAMS'), 'the warning names APP_UPSTREAMS');
  t.equal((await get(port, '/healthz')).status, 200, 'the tier stays healthy');

  web.child.kill('SIGTERM');
  t.same(await web.exited, { code: 0, signal: null });
});
