import t from 'tap';
import { rawExchange, openSocket, untilClosed } from '../../helpers/raw-http.js';
import { createFakeHandler, fakeHandlers, startWeb } from '../../helpers/web-tier.js';

const H = 'Host: a\r\n';

t.test('keep-alive + pipelining: static, dynamic, 404 and health mixed on one connection, answered in order', async (t) => {
  const handlers = fakeHandlers();
  // The app answers slowly: a later, faster static answer must still wait its turn.
  const app = createFakeHandler('app', { healthy: () => true, delayMs: 50 });
  // WEB_CGI=on: the CGI gateway is off by default (issue 12) and one of these requests is for it.
  const { port } = await startWeb(t, { handlers: { ...handlers, app }, env: { WEB_CGI: 'on' } });
  const requests = [
    `GET /api/echo?n=1 HTTP/1.1\r\n${H}\r\n`,
    `GET /index.html HTTP/1.1\r\n${H}\r\n`,
    `GET /api/../x HTTP/1.1\r\n${H}\r\n`,
    `POST /api/echo?n=2 HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabc`,
    `GET /healthz HTTP/1.1\r\n${H}\r\n`,
    `HEAD /style.css HTTP/1.1\r\n${H}\r\n`,
    `GET /cgi-bin/hello.sh HTTP/1.1\r\n${H}\r\n`,
  ];
  const exchange = await rawExchange(port, requests.join(''), { responses: requests.length, headAt: [5], timeoutMs: 3_000 });
  const seen = exchange.responses.map((response) => [response.status, response.headers['x-served-by'], response.body.split(' ').slice(0, 3).join(' ')]);
  t.same(seen, [
    [200, 'app', 'app GET /api/echo?n=1'],
    [200, 'static', 'static GET /index.html'],
    [400, 'web', seen[2]?.[2]],
    [200, 'app', 'app POST /api/echo?n=2'],
    [200, 'web', '{"status":"ok"}\n'],
    [200, 'static', ''],
    [200, 'cgi', 'cgi GET /cgi-bin/hello.sh'],
  ]);
  t.notOk(exchange.closedByServer, 'the connection stays open');
  const ids = new Set(exchange.responses.map((response) => response.headers['x-request-id']));
  t.equal(ids.size, requests.length, 'each request its own id');
});

t.test('slowloris: a header trickled in is cut off in bounded time', async (t) => {
  const { port } = await startWeb(t, { handlers: fakeHandlers(), config: { limits: { headersTimeoutMs: 400, requestTimeoutMs: 1_000 } } });
  const socket = await openSocket(port);
  t.teardown(() => socket.destroy());
  const closed = untilClosed(socket);
  const started = Date.now();
  socket.write(`GET / HTTP/1.1\r\n${H}`);
  // One header byte every 100 ms: always some progress, never the end of the headers.
  const drip = setInterval(() => socket.writable && socket.write('X'), 100);
  t.teardown(() => clearInterval(drip));
  const data = await closed;
  clearInterval(drip);
  const elapsed = Date.now() - started;
  t.match(data, /^HTTP\/1\.1 408 /, 'answered 408');
  t.ok(elapsed >= 350 && elapsed < 3_000, `cut off after ${elapsed} ms (headersTimeout 400 ms; node's default check interval alone is 30 s)`);
});

t.test('hundreds of idle and half-sent connections do not stop service', async (t) => {
  // All 300 come from 127.0.0.1, as does the probe: the per-peer cap (peer-limits.test.ts) is off
  // so that this stays a test of the server holding them, not of the cap refusing them.
  const { port } = await startWeb(t, { handlers: fakeHandlers(), config: { limits: { headersTimeoutMs: 5_000, requestTimeoutMs: 10_000, peer: { maxConnectionsPerPeer: 0 } } } });
  const sockets = await Promise.all(Array.from({ length: 300 }, () => openSocket(port)));
  t.teardown(() => sockets.forEach((socket) => socket.destroy()));
  sockets.forEach((socket, index) => {
    socket.on('error', () => undefined);
    if (index % 2 === 0) socket.write(`GET /slow HTTP/1.1\r\n${H}X-Half: `);
  });
  const started = Date.now();
  const exchange = await rawExchange(port, `GET /api/echo HTTP/1.1\r\n${H}\r\n`, { responses: 1, timeoutMs: 3_000 });
  t.equal(exchange.responses[0]?.status, 200);
  t.ok(Date.now() - started < 2_000, 'answered promptly');
});

t.test('idle keep-alive connections are closed after keepAliveTimeout', async (t) => {
  const { port } = await startWeb(t, { handlers: fakeHandlers(), config: { server: { keepAliveTimeoutMs: 200 } } });
  const exchange = await rawExchange(port, `GET / HTTP/1.1\r\n${H}\r\n`, { timeoutMs: 2_000 });
  t.equal(exchange.responses[0]?.status, 200);
  t.ok(exchange.closedByServer, 'server closed the idle connection');
  t.ok(exchange.ms < 1_500, `after ${exchange.ms} ms`);
});

t.test('a body sent to a handler that does not read it closes the connection instead of draining', async (t) => {
  const { port } = await startWeb(t, { handlers: fakeHandlers() });
  const handlers = fakeHandlers();
  const exchange = await rawExchange(port, `POST /healthz HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`, { timeoutMs: 2_000 });
  t.equal(exchange.responses[0]?.status, 405);
  t.equal(exchange.responses[0]?.headers['connection'], 'close');
  t.ok(exchange.closedByServer);
  t.equal(handlers.static.calls.length, 0);
});

t.test('an Upgrade request is answered as a plain request and the connection closed (nothing after it is parsed)', async (t) => {
  const handlers = fakeHandlers();
  const { port } = await startWeb(t, { handlers });
  const exchange = await rawExchange(port, `GET /api/ws HTTP/1.1\r\n${H}Upgrade: h2c\r\nConnection: Upgrade\r\n\r\nGET /api/smuggled HTTP/1.1\r\n${H}\r\n`, { timeoutMs: 2_000 });
  t.equal(exchange.responses.length, 1);
  t.equal(exchange.responses[0]?.status, 200);
  t.equal(exchange.responses[0]?.headers['connection'], 'close');
  t.ok(exchange.closedByServer, 'closed, not left hanging');
  t.same(handlers.app.calls.map((call) => call.url), ['/api/ws']);
});

t.test('close(): stops accepting, lets an in-flight request finish with Connection: close', async (t) => {
  const handlers = fakeHandlers();
  const app = createFakeHandler('app', { healthy: () => true, delayMs: 200 });
  const { port, web } = await startWeb(t, { handlers: { ...handlers, app } });
  const inFlight = rawExchange(port, `GET /api/slow HTTP/1.1\r\n${H}\r\n`, { timeoutMs: 3_000 });
  await new Promise<void>((resolve) => {
    const check = (): void => (app.calls.length > 0 ? resolve() : void setImmediate(check));
    // The fake handler records the call once the (empty) body has ended.
    check();
  });
  await web.close();
  const exchange = await inFlight;
  t.equal(exchange.responses[0]?.status, 200, 'finished');
  t.equal(exchange.responses[0]?.headers['connection'], 'close');
  t.ok(exchange.closedByServer);
  await t.rejects(rawExchange(port, `GET / HTTP/1.1\r\n${H}\r\n`), { code: 'ECONNREFUSED' }, 'no longer accepting');
});
