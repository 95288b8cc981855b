/**
 * The built tiers, for real: node dist/app-tier/main.js and node dist/web-tier/main.js on
 * port 0, the web tier forwarding to the app tier's port read from its "listening" line.
 */
import t from 'tap';
import { request, Agent } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAppTier } from '../helpers/app-tier.js';
import { rawExchange } from '../helpers/raw-http.js';
import { spawnEntry, WEB_MAIN, type SpawnedEntry, type Teardown } from '../helpers/web-tier.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  localPort: number;
}

function fetchVia(port: number, path: string, init: { method?: string; headers?: Record<string, string>; body?: string; agent?: Agent } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: init.method ?? 'GET', headers: init.headers ?? {}, agent: init.agent ?? false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, localPort: res.socket?.localPort ?? 0 }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

async function startWebTier(t: Teardown, env: Record<string, string>): Promise<{ web: SpawnedEntry; port: number }> {
  const web = spawnEntry(t, WEB_MAIN, { WEB_HOST: '127.0.0.1', WEB_PORT: '0', LOG_LEVEL: 'info', ...env });
  const listening = await web.waitForLine((line) => line['msg'] === 'listening');
  return { web, port: listening['port'] as number };
}

t.test('static and proxied requests through the real tiers; app stopped → fast 502, static still served', async (t) => {
  const app = await startAppTier(t, { workers: 1 });
  const { web, port } = await startWebTier(t, { APP_UPSTREAMS: app.url, WEB_PROXY_CONNECT_TIMEOUT_MS: '1000' });

  const home = await fetchVia(port, '/');
  t.equal(home.status, 200);
  t.equal(home.headers['x-served-by'], 'static');
  t.match(home.headers['content-type'], /^text\/html/);

  const echo = await fetchVia(port, '/api/echo/a%2fb%C3%A9?x=1&y=%20', { method: 'POST', headers: { 'Content-Type': 'text/plain', 'X-Request-Id': 'client-chosen' }, body: 'hello through two tiers' });
  t.equal(echo.status, 200);
  t.equal(echo.headers['x-served-by'], 'app');
  const inspected = JSON.parse(echo.body) as { method: string; url: string; body: string; headers: Record<string, string> };
  t.equal(inspected.method, 'POST');
  t.equal(inspected.url, '/api/echo/a%2fb%C3%A9?x=1&y=%20', 'the request-target reaches the app byte-identical');
  t.equal(inspected.body, 'hello through two tiers');
  t.equal(inspected.headers['x-request-id'], echo.headers['x-request-id'], 'the app sees the id the client gets back');
  t.not(echo.headers['x-request-id'], 'client-chosen', 'an untrusted client does not choose it');

  t.equal((await fetchVia(port, '/readyz')).status, 200);
  t.equal((await fetchVia(port, '/api/../etc/passwd')).status, 400);

  const lines = await web.waitForLine((line) => line['msg'] === 'request' && line['url'] === '/api/echo/a%2fb%C3%A9?x=1&y=%20');
  t.match(lines, { service: 'web', tier: 'app', servedBy: 'app', status: 200, upstream: app.url, method: 'POST' });

  // Stop the app tier: dynamic paths fail fast with 502, static files keep coming.
  app.child.kill('SIGTERM');
  await app.exited();
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const started = Date.now();
  const failed = await fetchVia(port, '/api/echo', { agent, headers: { Accept: 'application/json' } });
  t.equal(failed.status, 502);
  t.equal(failed.headers['x-served-by'], 'web', 'the web tier answered it, not the app');
  // Refused connections fail at once; the bound leaves room for a loaded CI machine.
  t.ok(Date.now() - started < 2_000, `502 in ${Date.now() - started} ms`);
  t.notMatch(failed.body, /ECONNREFUSED|at .*\.js/, 'no errno or stack in the body');
  t.match(JSON.parse(failed.body), { error: { status: 502, requestId: failed.headers['x-request-id'] } });
  const stillStatic = await fetchVia(port, '/', { agent });
  t.equal(stillStatic.status, 200);
  t.equal(stillStatic.localPort, failed.localPort, 'the keep-alive connection survived the 502');
  t.equal((await fetchVia(port, '/healthz')).status, 200);
});

t.test('npm run web: a bad config is one line naming the key, exit 1; SIGTERM exits 0', async (t) => {
  const badPort = spawnEntry(t, WEB_MAIN, { WEB_PORT: '99999' });
  const { code } = await badPort.exited;
  t.equal(code, 1);
  t.match(badPort.stderr(), /^twotier web: WEB_PORT\b.*port number/);
  t.equal(badPort.stderr().trim().split('\n').length, 1, 'one line');

  const dir = mkdtempSync(join(tmpdir(), 'twotier-web-main-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'web.json'), JSON.stringify({ limits: { maxBodyBytes: 10 }, webPort: 1 }));
  const unknownKey = spawnEntry(t, WEB_MAIN, { WEB_PORT: '0' }, ['--config', join(dir, 'web.json')]);
  t.equal((await unknownKey.exited).code, 1);
  t.match(unknownKey.stderr(), /unknown key "webPort"/);

  // The flat keys of config files before the sections (issue 14) fail naming their new place.
  writeFileSync(join(dir, 'flat.json'), JSON.stringify({ maxBodyBytes: 10 }));
  const movedKey = spawnEntry(t, WEB_MAIN, { WEB_PORT: '0' }, ['--config', join(dir, 'flat.json')]);
  t.equal((await movedKey.exited).code, 1);
  t.match(movedKey.stderr(), /key "maxBodyBytes" moved to "limits\.maxBodyBytes"/);
  t.equal(movedKey.stderr().trim().split('\n').length, 1, 'one line');

  const badFlag = spawnEntry(t, WEB_MAIN, {}, ['--bogus']);
  t.equal((await badFlag.exited).code, 1);
  t.match(badFlag.stderr(), /unknown argument "--bogus"/);

  writeFileSync(join(dir, 'small.json'), JSON.stringify({ limits: { maxBodyBytes: 10 } }));
  const { web, port } = await startWebTier(t, { APP_UPSTREAMS: 'http://127.0.0.1:9' });
  const configured = spawnEntry(t, WEB_MAIN, { WEB_PORT: '0', APP_UPSTREAMS: 'http://127.0.0.1:9' }, ['--config', join(dir, 'small.json')]);
  const configuredPort = (await configured.waitForLine((line) => line['msg'] === 'listening'))['port'] as number;
  const tooBig = await rawExchange(configuredPort, 'POST /api/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n', { timeoutMs: 2_000 });
  t.equal(tooBig.responses[0]?.status, 413, '--config values apply');

  t.equal((await fetchVia(port, '/healthz')).status, 200);
  web.child.kill('SIGTERM');
  t.same(await web.exited, { code: 0, signal: null }, 'graceful stop exits 0');
  t.ok(web.lines.some((line) => line['msg'] === 'shutting down'));
});

t.test('through the real proxy: body limit while streaming, absolute-form, 50 concurrent requests', async (t) => {
  const app = await startAppTier(t, { workers: 1 });
  const { port } = await startWebTier(t, { APP_UPSTREAMS: app.url, WEB_MAX_BODY: '1000' });
  const chunk = 'x'.repeat(600);
  const chunked = await rawExchange(port, [
    'POST /api/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n',
    `${(600).toString(16)}\r\n${chunk}\r\n`,
    `${(600).toString(16)}\r\n${chunk}\r\n`,
    '0\r\n\r\n',
  ], { timeoutMs: 3_000 });
  t.equal(chunked.responses[0]?.status, 413, 'a chunked body growing past WEB_MAX_BODY → 413');
  t.ok(chunked.closedByServer, 'and the connection closed');
  const atLimit = await fetchVia(port, '/api/echo', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'y'.repeat(1000) });
  t.equal(atLimit.status, 200, 'a body at the limit passes');
  t.equal((JSON.parse(atLimit.body) as { bodyLength: number }).bodyLength, 1000);

  const absolute = await rawExchange(port, `GET http://127.0.0.1:${port}/api/echo?abs=1 HTTP/1.1\r\nHost: a\r\n\r\n`, { responses: 1 });
  t.equal(absolute.responses[0]?.status, 200);
  const seen = JSON.parse(absolute.responses[0]?.body ?? '{}') as { url: string; headers: Record<string, string> };
  t.equal(seen.url, '/api/echo?abs=1', 'the app gets origin-form');
  const foreign = await rawExchange(port, 'GET http://evil.example/api/echo?abs=1 HTTP/1.1\r\nHost: a\r\n\r\n', { responses: 1 });
  t.equal(foreign.responses[0]?.status, 421, 'never an open proxy: another host is refused');

  const answers = await Promise.all(Array.from({ length: 50 }, (_, index) => fetchVia(port, `/api/echo?n=${index}`)));
  t.same(answers.map((answer) => (JSON.parse(answer.body) as { url: string }).url), Array.from({ length: 50 }, (_, index) => `/api/echo?n=${index}`), 'each its own answer');
});
