/**
 * The web tier's entry point as an operator runs it: SIGHUP re-reads --config and swaps the
 * upstream list on live connections (an invalid file is one error line, old config kept),
 * WEB_WORKERS=N answers from N processes and passes signals on, LOG_PRETTY=1 is readable.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startUpstream } from '../helpers/upstream.js';
import { alive, spawnEntry, WEB_MAIN, type Teardown } from '../helpers/web-tier.js';

async function upstream(t: Teardown, name: string): Promise<string> {
  return (await startUpstream(t, (req, res) => {
    req.resume();
    res.end(name);
  })).url;
}

function get(port: number, path: string, agent: Agent | false = false): Promise<{ status: number; body: string; id: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, id: String(res.headers['x-request-id']), localPort: res.socket?.localPort ?? 0 }));
    });
    req.on('error', reject);
    req.end();
  });
}

function tempDir(t: Teardown): string {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-web-lifecycle-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('SIGHUP: a valid --config swaps the upstreams on a live connection; an invalid one is one error line and changes nothing', async (t) => {
  const first = await upstream(t, 'A');
  const second = await upstream(t, 'B');
  const file = join(tempDir(t), 'web.json');
  writeFileSync(file, JSON.stringify({ proxy: { upstreams: [first], activeHealth: { intervalMs: 0 } } }));
  const web = spawnEntry(t, WEB_MAIN, { WEB_HOST: '127.0.0.1', WEB_PORT: '0' }, ['--config', file]);
  const port = (await web.waitForLine((line) => line['msg'] === 'listening'))['port'] as number;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const before = await get(port, '/api/x', agent);
  t.equal(before.body, 'A');

  writeFileSync(file, JSON.stringify({ proxy: { upstreams: [second], activeHealth: { intervalMs: 0 } } }));
  web.child.kill('SIGHUP');
  const reloaded = await web.waitForLine((line) => line['msg'] === 'config reloaded');
  t.match(reloaded, { applied: ['proxy.upstreams'], needRestart: [] });
  const after = await get(port, '/api/x', agent);
  t.equal(after.body, 'B', 'the new upstream answers');
  t.equal(after.localPort, before.localPort, 'on the same keep-alive connection');

  writeFileSync(file, JSON.stringify({ proxy: { upstreams: ['ftp://nope'], activeHealth: { intervalMs: 0 } } }));
  web.child.kill('SIGHUP');
  const rejected = await web.waitForLine((line) => line['msg']?.toString().startsWith('config reload rejected') === true);
  t.match(rejected, { level: 50, key: /upstreams/ }, 'the error line names the key');
  t.equal(web.lines.filter((line) => line['level'] === 50).length, 1, 'one error line');
  t.equal((await get(port, '/api/x', agent)).body, 'B', 'the old config stays in use');

  web.child.kill('SIGTERM');
  t.same(await web.exited, { code: 0, signal: null });
});

t.test('WEB_WORKERS=2: two web processes answer on one port; SIGHUP and SIGTERM reach both', async (t) => {
  const app = await upstream(t, 'A');
  const web = spawnEntry(t, WEB_MAIN, { WEB_HOST: '127.0.0.1', WEB_PORT: '0', WEB_WORKERS: '2', APP_UPSTREAMS: app, WEB_PROXY_HEALTH_INTERVAL_MS: '0' });
  await web.waitForLine((line) => line['msg'] === 'web cluster ready');
  // Each worker writes its own line; the primary's may come first.
  const listeningLines = (): typeof web.lines => web.lines.filter((line) => line['msg'] === 'listening');
  await web.waitForLine(() => listeningLines().length >= 2);
  const listening = listeningLines();
  t.equal(listening.length, 2, 'two workers listening');
  t.equal(new Set(listening.map((line) => line['pid'])).size, 2, 'in two processes');
  t.equal(new Set(listening.map((line) => line['port'])).size, 1, 'on one port');
  const port = listening[0]?.['port'] as number;

  // The primary hands connections out round-robin: fresh connections reach both, bounded.
  const pids = new Set<unknown>();
  for (let attempt = 0; attempt < 40 && pids.size < 2; attempt += 1) {
    const answer = await get(port, '/healthz');
    t.equal(answer.status, 200);
    const line = await web.waitForLine((candidate) => candidate['msg'] === 'request' && candidate['reqId'] === answer.id, 5_000);
    pids.add(line['pid']);
  }
  t.equal(pids.size, 2, 'two distinct web pids answered');
  t.same([...pids].sort(), listening.map((line) => line['pid']).sort());

  web.child.kill('SIGHUP');
  for (const pid of pids) await web.waitForLine((line) => line['msg'] === 'config reloaded' && line['pid'] === pid);
  t.pass('SIGHUP reached every worker');

  // POST /-/reload lands on one worker; the primary passes SIGHUP on to all.
  const reloadedBefore = web.lines.filter((line) => line['msg'] === 'config reloaded').length;
  const asked = await new Promise<number>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/-/reload', method: 'POST', headers: { 'X-Twotier-Reload': '1' }, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
  t.equal(asked, 202, 'accepted for every worker');
  await web.waitForLine(() => web.lines.filter((line) => line['msg'] === 'config reloaded').length >= reloadedBefore + 2);
  t.pass('POST /-/reload reached every worker');

  web.child.kill('SIGTERM');
  t.same(await web.exited, { code: 0, signal: null }, 'the primary exits 0 after its workers');
  t.notOk([...pids].some((pid) => alive(pid as number)), 'no worker left behind');
});

t.test('LOG_PRETTY=1: readable lines through pino-pretty', async (t) => {
  const web = spawnEntry(t, WEB_MAIN, { WEB_HOST: '127.0.0.1', WEB_PORT: '0', LOG_PRETTY: '1', APP_UPSTREAMS: 'http://127.0.0.1:9', WEB_PROXY_HEALTH_INTERVAL_MS: '0' });
  const line = await web.waitForLine((candidate) => typeof candidate['raw'] === 'string' && (candidate['raw'] as string).includes('listening'));
  t.match(line['raw'], /INFO.*\[web\] listening/, 'level, service and message on one line');
  t.notOk(web.lines.some((candidate) => typeof candidate['level'] === 'number'), 'no JSON log line');
  web.child.kill('SIGTERM');
  t.equal((await web.exited).code, 0);
});
