/**
 * WEB_DYNAMIC through the built web tier: the same /api/echo answered by the application
 * embedded in the web tier's process, and by cgi-bin/app started once per request.
 */
import t from 'tap';
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnEntry, WEB_MAIN, type Teardown } from '../helpers/web-tier.js';

interface Echo {
  status: number;
  servedBy: string | undefined;
  json: { url: string; body: string; worker: { pid: number } };
}

function post(port: number, path: string, body: string): Promise<Echo> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers: { 'Content-Type': 'text/plain' }, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, servedBy: res.headers['x-served-by'] as string | undefined, json: JSON.parse(text) as Echo['json'] });
        } catch (error) {
          reject(new Error(`${res.statusCode ?? 0}: ${text}`, { cause: error }));
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function startMode(t: Teardown, dynamic: string, extraEnv: Record<string, string> = {}): Promise<{ port: number; pid: number }> {
  const dir = mkdtempSync(join(tmpdir(), `twotier-${dynamic}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const web = spawnEntry(t, WEB_MAIN, { WEB_PORT: '0', WEB_DYNAMIC: dynamic, APP_UPSTREAMS: '', DATABASE_URL: `sqlite:${join(dir, 'twotier.db')}`, LOG_LEVEL: 'info', ...extraEnv });
  const listening = await web.waitForLine((line) => line['msg'] === 'listening');
  return { port: listening['port'] as number, pid: listening['pid'] as number };
}

t.test('WEB_DYNAMIC=embedded: the app answers inside the web tier process', async (t) => {
  const { port, pid } = await startMode(t, 'embedded');
  const first = await post(port, '/api/echo?mode=embedded', 'in-process');
  t.equal(first.status, 200);
  t.equal(first.servedBy, 'embedded');
  t.equal(first.json.url, '/api/echo?mode=embedded');
  t.equal(first.json.body, 'in-process');
  t.equal(first.json.worker.pid, pid, 'the web tier\'s own pid');
});

t.test('WEB_DYNAMIC=cgi: a new process per request runs the same app', async (t) => {
  const { port, pid } = await startMode(t, 'cgi');
  const first = await post(port, '/api/echo?mode=cgi', 'per-request');
  t.equal(first.status, 200);
  t.equal(first.servedBy, 'cgi');
  t.equal(first.json.url, '/api/echo?mode=cgi');
  t.equal(first.json.body, 'per-request');
  const second = await post(port, '/api/echo', '');
  t.not(second.json.worker.pid, first.json.worker.pid, 'each request its own process');
  t.not(first.json.worker.pid, pid);
});

t.test('WEB_DYNAMIC=embedded keeps the app tier\'s write protection: APP_TOKEN set → 401 without it', async (t) => {
  const { port } = await startMode(t, 'embedded', { APP_TOKEN: 'embedded-secret' });
  const send = (headers: Record<string, string>): Promise<{ status: number; auth: string | undefined }> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/api/articles/', method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, auth: res.headers['www-authenticate'] }));
      });
      req.on('error', reject);
      req.end(JSON.stringify({ title: 'Embedded write', body: 'x' }));
    });
  const refused = await send({});
  t.equal(refused.status, 401);
  t.match(refused.auth, /^Bearer/);
  t.equal((await send({ Authorization: 'Bearer embedded-secret' })).status, 201);
});
