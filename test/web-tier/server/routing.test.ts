import t from 'tap';
import { request } from 'node:http';
import { rawExchange } from '../../helpers/raw-http.js';
import { createFakeHandler, fakeHandlers, startWeb } from '../../helpers/web-tier.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(port: number, path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: init.method ?? 'GET', headers: init.headers ?? {}, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

t.test('each kind of path reaches exactly one handler, and the response says which', async (t) => {
  const handlers = fakeHandlers();
  // The CGI gateway is off by default (issue 12): this test routes to it, so it turns it on.
  const { port } = await startWeb(t, { handlers, env: { WEB_CGI: 'on' } });
  const home = await get(port, '/');
  t.equal(home.status, 200);
  t.equal(home.headers['x-served-by'], 'static');
  t.match(home.body, /^static GET \/ 0/);
  const echo = await get(port, '/api/echo?x=1', { method: 'POST', body: 'hello' });
  t.equal(echo.headers['x-served-by'], 'app');
  t.match(echo.body, /^app POST \/api\/echo\?x=1 5/);
  const article = await get(port, '/articles/2003/');
  t.equal(article.headers['x-served-by'], 'app');
  const cgi = await get(port, '/cgi-bin/hello.sh/extra?q');
  t.equal(cgi.headers['x-served-by'], 'cgi');
  t.match(cgi.body, /^cgi GET \/cgi-bin\/hello\.sh\/extra\?q/);
  const health = await get(port, '/healthz');
  t.equal(health.status, 200);
  t.equal(health.headers['x-served-by'], 'web');
  t.same(JSON.parse(health.body), { status: 'ok' });
  t.same(handlers.static.calls.map((call) => call.pathname), ['/']);
  t.same(handlers.app.calls.map((call) => call.url), ['/api/echo?x=1', '/articles/2003/']);
  t.same(handlers.cgi.calls.map((call) => call.pathname), ['/cgi-bin/hello.sh/extra']);
});

t.test('CGI off by default: /cgi-bin/ goes to the static handler, never to the gateway', async (t) => {
  const handlers = fakeHandlers();
  const { port } = await startWeb(t, { handlers });
  const cgi = await get(port, '/cgi-bin/app/api/articles/', { method: 'POST', body: '{}' });
  t.equal(cgi.headers['x-served-by'], 'static');
  t.equal(handlers.cgi.calls.length, 0, 'the gateway saw nothing');
  t.same(handlers.static.calls.map((call) => call.pathname), ['/cgi-bin/app/api/articles/']);
});

t.test('traversal out of a dynamic prefix is refused before routing', async (t) => {
  const handlers = fakeHandlers();
  const { port } = await startWeb(t, { handlers });
  for (const target of ['/api/../secret', '/api/%2e%2e/secret', '/api/..%2fsecret', '/static/..%2Fapi/echo', '/api\\..\\x', '/a%00b', '/a%c0%ae%c0%ae/']) {
    const exchange = await rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: a\r\n\r\n`, { responses: 1 });
    t.equal(exchange.responses[0]?.status, 400, `${target} → 400`);
    t.equal(exchange.responses[0]?.headers['x-served-by'], 'web');
  }
  t.equal(handlers.static.calls.length + handlers.app.calls.length + handlers.cgi.calls.length, 0, 'no handler saw any of them');
});

t.test('request ids: generated, returned, and an incoming one kept only from a trusted proxy', async (t) => {
  const untrusting = await startWeb(t, { handlers: fakeHandlers() });
  const generated = await get(untrusting.port, '/', { headers: { 'X-Request-Id': 'from-client-1' } });
  t.match(generated.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'a client cannot choose its id');
  const handlers = fakeHandlers();
  const trusting = await startWeb(t, { handlers, env: { WEB_TRUSTED_PROXIES: '127.0.0.1' } });
  const kept = await get(trusting.port, '/api/x', { headers: { 'X-Request-Id': 'lb-abc.123' } });
  t.equal(kept.headers['x-request-id'], 'lb-abc.123');
  t.equal(handlers.app.calls[0]?.requestId, 'lb-abc.123');
  const injected = await get(trusting.port, '/', { headers: { 'X-Request-Id': 'bad id"}' } });
  t.not(injected.headers['x-request-id'], 'bad id"}', 'an invalid id is replaced');
});

t.test('one access-log line per request with who answered', async (t) => {
  const { port, log } = await startWeb(t, { handlers: fakeHandlers() });
  await get(port, '/index.html');
  await get(port, '/api/echo', { method: 'POST', body: 'abc' });
  await get(port, '/nope/../x');
  await get(port, '/readyz', { method: 'HEAD' });
  const lines = await log.waitForAccessLines(4);
  t.equal(lines.length, 4);
  t.match(lines[0], { msg: 'request', service: 'web', tier: 'static', method: 'GET', url: '/index.html', status: 200, servedBy: 'static', bytes: 'static GET /index.html 0\n'.length, reqId: String, ms: Number });
  t.match(lines[1], { method: 'POST', url: '/api/echo', status: 200, servedBy: 'app', upstream: 'http://fake-upstream' });
  t.match(lines[2], { status: 400, servedBy: 'web', url: '/nope/../x' });
  t.match(lines[3], { method: 'HEAD', url: '/readyz', status: 200, bytes: 0 });
  t.notOk('upstream' in (lines[0] ?? {}), 'no upstream on a static line');
});

t.test('readyz: 503 with Retry-After when the proxy has no healthy upstream; close() closes every handler', async (t) => {
  let healthy = false;
  const handlers = { ...fakeHandlers(), app: createFakeHandler('app', { healthy: () => healthy }) };
  const { port, web } = await startWeb(t, { handlers });
  const down = await get(port, '/readyz');
  t.equal(down.status, 503);
  t.equal(down.headers['retry-after'], '5');
  t.match(JSON.parse(down.body), { status: 'unavailable' });
  t.equal((await get(port, '/healthz')).status, 200, 'alive even when not ready');
  healthy = true;
  t.equal((await get(port, '/readyz')).status, 200);
  const post = await get(port, '/healthz', { method: 'POST' });
  t.equal(post.status, 405);
  t.equal(post.headers['allow'], 'GET, HEAD, OPTIONS');
  await web.close();
  t.equal(handlers.app.closed && handlers.static.closed && handlers.cgi.closed, true, 'close() closes every handler');
});

t.test('absolute-form: served as origin-form for this server; another host is refused (never an open proxy)', async (t) => {
  const handlers = fakeHandlers();
  const { port, log } = await startWeb(t, { handlers });
  const exchange = await rawExchange(port, `GET http://127.0.0.1:${port}/api/echo?q=1 HTTP/1.1\r\nHost: ignored.example\r\n\r\n`, { responses: 1 });
  t.equal(exchange.responses[0]?.status, 200, 'the address the client connected to names this server');
  t.same(handlers.app.calls[0], { method: 'GET', url: '/api/echo?q=1', pathname: '/api/echo', search: '?q=1', requestId: handlers.app.calls[0]?.requestId, host: `127.0.0.1:${port}`, body: '' });
  const sameHost = await rawExchange(port, 'GET http://www.example/api/echo HTTP/1.1\r\nHost: www.example\r\n\r\n', { responses: 1 });
  t.equal(sameHost.responses[0]?.status, 200, 'an authority equal to Host is this server too');
  const foreign = await rawExchange(port, 'GET http://evil.example:9/api/echo?q=1 HTTP/1.1\r\nHost: ignored.example\r\n\r\n', { responses: 1 });
  t.equal(foreign.responses[0]?.status, 421, 'another host → 421 Misdirected Request');
  t.equal(handlers.app.calls.length, 2, 'the foreign request reached no handler');
  t.ok(log.lines().some((line) => line['msg']?.toString().includes('open proxy') === true && line['authority'] === 'evil.example:9'), 'the log says why');
  const ftp = await rawExchange(port, 'GET ftp://x/ HTTP/1.1\r\nHost: a\r\n\r\n', { responses: 1 });
  t.equal(ftp.responses[0]?.status, 400);
  const star = await rawExchange(port, 'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n', { responses: 1 });
  t.equal(star.responses[0]?.status, 204);
  t.match(star.responses[0]?.headers['allow'], /GET, HEAD/);
});

t.test('WEB_DYNAMIC=cgi sends the dynamic prefixes to cgi-bin/app', async (t) => {
  const handlers = fakeHandlers();
  const { port } = await startWeb(t, { handlers, env: { WEB_DYNAMIC: 'cgi' } });
  const answer = await get(port, '/api/echo?x=1');
  t.equal(answer.headers['x-served-by'], 'cgi');
  t.same(handlers.cgi.calls.map((call) => [call.pathname, call.search]), [['/cgi-bin/app/api/echo', '?x=1']]);
  t.equal(handlers.app.calls.length, 0);
  t.equal((await get(port, '/readyz')).status, 200, 'ready without an app tier');
});

t.test('a handler that throws fails its own request only', async (t) => {
  const handlers = fakeHandlers();
  const broken = { ...handlers, static: { handle: () => { throw new Error('boom'); }, close: async () => undefined } };
  const { port } = await startWeb(t, { handlers: broken });
  const failed = await get(port, '/x');
  t.equal(failed.status, 500);
  t.notMatch(failed.body, /boom|at .*\.ts/, 'no message or stack');
  t.equal((await get(port, '/api/echo')).status, 200);
});

t.test('an app-bound request answered by the web tier itself (an upstream error page) says web', async (t) => {
  const handlers = fakeHandlers();
  const failing = {
    ...handlers,
    app: {
      handle: (_req: unknown, res: import('node:http').ServerResponse, ctx: import('../../../web-tier/context.js').RequestContext) => {
        ctx.servedBy = 'app';
        res.writeHead(502, { 'Content-Type': 'text/plain' });
        res.end('bad gateway\n');
      },
      close: async () => undefined,
    },
  };
  const { port, log } = await startWeb(t, { handlers: failing });
  const answer = await get(port, '/api/echo');
  t.equal(answer.status, 502);
  t.equal(answer.headers['x-served-by'], 'web');
  const [line] = await log.waitForAccessLines(1);
  t.match(line, { status: 502, tier: 'web', servedBy: 'web' }, 'and the access log says the same');
});

t.test('a server error after start-up (accept failing under EMFILE) is logged, not fatal', async (t) => {
  const { web, port, log } = await startWeb(t, { handlers: fakeHandlers() });
  web.server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' }));
  t.ok(log.lines().some((line) => line['msg'] === 'server error' && line['level'] === 50));
  t.equal((await get(port, '/healthz')).status, 200, 'still serving');
});

t.test('a client that leaves before the answer still gets its access-log line, marked aborted', async (t) => {
  const handlers = fakeHandlers();
  const slow = createFakeHandler('app', { healthy: () => true, delayMs: 300 });
  const { port, log } = await startWeb(t, { handlers: { ...handlers, app: slow } });
  const { openSocket } = await import('../../helpers/raw-http.js');
  const socket = await openSocket(port);
  socket.write('GET /api/slow HTTP/1.1\r\nHost: a\r\n\r\n');
  await new Promise<void>((resolve) => {
    const check = (): void => (slow.calls.length > 0 ? resolve() : void setImmediate(check));
    check();
  });
  socket.destroy();
  const [line] = await log.waitForAccessLines(1);
  t.match(line, { url: '/api/slow', aborted: true, servedBy: 'app' });
});

t.test('WEB_SERVER_NAMES: a request for another host name gets 421', async (t) => {
  const handlers = fakeHandlers();
  const { port } = await startWeb(t, { handlers, env: { WEB_SERVER_NAMES: 'www.example,127.0.0.1' } });
  t.equal((await get(port, '/')).status, 200, 'Host 127.0.0.1:port is served');
  const other = await get(port, '/', { headers: { Host: 'evil.example' } });
  t.equal(other.status, 421);
  t.equal(handlers.static.calls.length, 1);
});
