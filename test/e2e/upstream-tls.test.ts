/**
 * Upstream TLS end to end (issue 15, multi-box): the real, built app tier listening with
 * APP_TLS_CERT/APP_TLS_KEY (two cluster workers) behind the real web tier with
 * APP_UPSTREAMS=https://localhost:PORT and WEB_UPSTREAM_CA. A write and a read go through; a web
 * tier trusting another CA answers 502 WEB_ERR_UPSTREAM_TLS with its log line; the app port
 * refuses plain HTTP; bad TLS settings stop either tier at start with one line naming the setting.
 */
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAppTier, startAppTier } from '../helpers/app-tier.js';
import { makeCa, makeLeaf } from '../helpers/tls-certs.js';
import { spawnEntry, WEB_MAIN, type SpawnedEntry } from '../helpers/web-tier.js';

interface Answer { status: number; headers: Record<string, unknown>; body: string }

function send(kind: 'http' | 'https', port: number, path: string, options: { method?: string; body?: string; ca?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Host: 'localhost', Accept: 'application/json' };
    if (options.body !== undefined) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(options.body)) });
    const base = { host: '127.0.0.1', port, path, method: options.method ?? 'GET', agent: false as const, headers };
    const onResponse = (res: import('node:http').IncomingMessage): void => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    };
    const req = kind === 'https' ? httpsRequest({ ...base, servername: 'localhost', ca: options.ca }, onResponse) : httpRequest(base, onResponse);
    req.setTimeout(15_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(options.body);
  });
}

async function startWebTier(t: Parameters<typeof spawnEntry>[0], env: Record<string, string>): Promise<{ web: SpawnedEntry; port: number }> {
  const web = spawnEntry(t, WEB_MAIN, { WEB_HOST: '127.0.0.1', WEB_PORT: '0', LOG_LEVEL: 'info', WEB_PROXY_HEALTH_INTERVAL_MS: '0', ...env });
  const listening = await web.waitForLine((line) => line['msg'] === 'listening', 60_000);
  return { web, port: listening['port'] as number };
}

t.test('the app tier over TLS behind the web tier, verified against WEB_UPSTREAM_CA', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'twotier-e2e-upstream-tls-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = await makeCa('app boxes CA');
  const leaf = await makeLeaf(ca, ['localhost', '127.0.0.1']);
  const files = { ca: join(dir, 'ca.pem'), other: join(dir, 'other-ca.pem'), cert: join(dir, 'app.pem'), key: join(dir, 'app-key.pem') };
  await writeFile(files.ca, ca.certPem);
  await writeFile(files.other, (await makeCa('not the app boxes CA')).certPem);
  await writeFile(files.cert, leaf.certPem);
  await writeFile(files.key, leaf.keyPem, { mode: 0o600 });

  const app = await startAppTier(t, { workers: 2, env: { APP_TLS_CERT: files.cert, APP_TLS_KEY: files.key }, readyTimeoutMs: 60_000 });
  const listening = app.lines.find((line) => line.msg === 'listening' && line['role'] === 'primary');
  t.match(listening?.['url'], /^https:\/\/127\.0\.0\.1:\d+$/, 'the app tier says it listens on https');
  t.equal((await send('https', app.port, '/healthz', { ca: ca.certPem })).status, 200, 'the app port speaks TLS with the configured certificate');
  await t.rejects(send('http', app.port, '/healthz'), 'plain HTTP on the app port gets no answer');

  const { port } = await startWebTier(t, { APP_UPSTREAMS: `https://localhost:${app.port}`, WEB_UPSTREAM_CA: files.ca });
  const article = JSON.stringify({ title: 'Over TLS', body: 'From the web box to the app box, encrypted.', published: '2026-12-02T07:00:00.000Z' });
  const created = await send('http', port, '/api/articles/', { method: 'POST', body: article });
  t.equal(created.status, 201, created.body);
  const listed = await send('http', port, '/api/articles/');
  t.equal(listed.status, 200);
  t.match(listed.body, /Over TLS/, 'the article written through the TLS upstream is read back');

  const wrong = await startWebTier(t, { APP_UPSTREAMS: `https://localhost:${app.port}`, WEB_UPSTREAM_CA: files.other });
  const refused = await send('http', wrong.port, '/api/articles/');
  t.equal(refused.status, 502, 'a certificate that does not verify: 502, never a plain fallback');
  t.equal((JSON.parse(refused.body) as { error: { code: string } }).error.code, 'WEB_ERR_UPSTREAM_TLS');
  const line = await wrong.web.waitForLine((entry) => entry['code'] === 'WEB_ERR_UPSTREAM_TLS');
  t.match(line, { msg: 'proxy answered with an error', upstream: `https://localhost:${app.port}`, reason: String });
  t.match(String(line['cause']), /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN)$/);
});

t.test('bad TLS settings stop a tier at start with one line naming the setting', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'twotier-e2e-upstream-tls-bad-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = await makeCa('app boxes CA');
  const leaf = await makeLeaf(ca, ['localhost']);
  const stranger = await makeLeaf(ca, ['localhost']);
  const cert = join(dir, 'app.pem');
  const wrongKey = join(dir, 'other-key.pem');
  await writeFile(cert, leaf.certPem);
  await writeFile(wrongKey, stranger.keyPem, { mode: 0o600 });

  const alone = await runAppTier({ APP_TLS_CERT: cert, DATABASE_URL: `sqlite:${join(dir, 'a.db')}` });
  t.equal(alone.code, 1, 'a certificate without its key');
  t.match(alone.stderr, /APP_TLS_KEY: APP_TLS_CERT and APP_TLS_KEY go together/);
  const mismatched = await runAppTier({ APP_TLS_CERT: cert, APP_TLS_KEY: wrongKey, DATABASE_URL: `sqlite:${join(dir, 'b.db')}` });
  t.equal(mismatched.code, 1, 'a key that is not the certificate\'s');
  t.match(mismatched.stderr, /APP_TLS_CERT\/APP_TLS_KEY: .* are not a usable certificate and key/);
  const missing = await runAppTier({ APP_TLS_CERT: join(dir, 'nope.pem'), APP_TLS_KEY: wrongKey, DATABASE_URL: `sqlite:${join(dir, 'c.db')}` });
  t.equal(missing.code, 1);
  t.match(missing.stderr, /APP_TLS_CERT: cannot read .*nope\.pem \(ENOENT\)/);

  const web = spawnEntry(t, WEB_MAIN, { WEB_HOST: '127.0.0.1', WEB_PORT: '0', APP_UPSTREAMS: 'https://localhost:3443', WEB_UPSTREAM_CA: join(dir, 'missing-ca.pem') });
  const exit = await web.exited;
  t.equal(exit.code, 1, 'the web tier with a CA file it cannot read');
  t.match(web.stderr(), /^twotier web: WEB_UPSTREAM_CA: cannot read .*missing-ca\.pem \(ENOENT\)/m);
});
