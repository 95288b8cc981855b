/**
 * Per-client limits through the real server core and real sockets (issue 12 item 4): the
 * connection cap per peer address (nginx limit_conn), the request rate per client (nginx
 * limit_req with burst, nodelay), and a trusted proxy exempt while its forwarded client is not.
 * Several loopback addresses stand in for several hosts (Linux routes all of 127.0.0.0/8 to lo).
 */
import t from 'tap';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { rawExchange, type RawExchange } from '../../helpers/raw-http.js';
import { fakeHandlers, startWeb, withOverrides, type Teardown } from '../../helpers/web-tier.js';

const H = 'Host: a\r\n';
const WAIT_MS = 3_000;

/** A connection from `from` that sends `bytes` and resolves with `count` responses, or with what it has when the server closes (bounded). */
function exchangeFrom(from: string, port: number, bytes: string, count: number): Promise<RawExchange> {
  return rawExchange(port, bytes, { localAddress: from, responses: count, timeoutMs: WAIT_MS });
}

/** A kept connection from `from` that the server has answered once (so the server has surely accepted and counted it). */
async function heldConnection(t: Teardown, from: string, port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port, localAddress: from });
  t.teardown(() => socket.destroy());
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  socket.write(`GET /held HTTP/1.1\r\n${H}\r\n`);
  const [chunk] = (await Promise.race([once(socket, 'data'), once(socket, 'close'), new Promise((_, reject) => setTimeout(() => reject(new Error('no answer on a held connection')), WAIT_MS))])) as [Buffer | undefined];
  if (chunk === undefined || !/^HTTP\/1\.1 200 /.test(chunk.toString('latin1'))) throw new Error(`held connection from ${from} not answered 200`);
  return socket;
}

/** Resolves with what the server sent before closing a fresh connection from `from` on which nothing is written (bounded). */
function refusedOrIdle(from: string, port: number): Promise<{ closed: boolean; data: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress: from });
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ closed: false, data });
    }, WAIT_MS);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, data });
    });
  });
}

function requests(n: number, path: string, extra = ''): string {
  return Array.from({ length: n }, (_, index) => `GET ${path}?n=${index} HTTP/1.1\r\n${H}${extra}\r\n`).join('');
}

t.test('connection cap: the N+1th connection from one peer is closed at once; another peer still connects', async (t) => {
  const { port } = await startWeb(t, { handlers: fakeHandlers(), config: { limits: { peer: { maxConnectionsPerPeer: 3 } } } });
  for (let index = 0; index < 3; index += 1) await heldConnection(t, '127.0.0.1', port);

  const fourth = await refusedOrIdle('127.0.0.1', port);
  t.ok(fourth.closed, 'the fourth connection from 127.0.0.1 is closed by the server');
  t.equal(fourth.data, '', 'without a byte written (no request read, no timer held)');

  const other = await exchangeFrom('127.0.0.2', port, `GET /x HTTP/1.1\r\n${H}\r\n`, 1);
  t.equal(other.responses[0]?.status, 200, 'a second peer (127.0.0.2) is served meanwhile');

  const metrics = await exchangeFrom('127.0.0.2', port, `GET /-/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, 1);
  t.match(metrics.responses[0]?.body ?? '', /twotier_web_limited_total\{reason="connections"\} 1\b/, 'counted in metrics');
  const status = await exchangeFrom('127.0.0.2', port, `GET /-/status.json HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, 1);
  const limits = (JSON.parse(status.responses[0]?.body ?? '{}') as { limits?: Record<string, unknown> }).limits;
  t.match(limits, { maxConnectionsPerPeer: 3, refusedConnections: 1 }, 'shown in the status data');
});

t.test('connection cap: a closed connection frees its place', async (t) => {
  const { web, port } = await startWeb(t, { handlers: fakeHandlers(), config: { limits: { peer: { maxConnectionsPerPeer: 1 } } } });
  const serverSide: Socket[] = [];
  web.server.on('connection', (socket: Socket) => serverSide.push(socket));
  const first = await heldConnection(t, '127.0.0.1', port);
  t.ok((await refusedOrIdle('127.0.0.1', port)).closed, 'over the cap while the first is open');
  const released = once(serverSide[0] as Socket, 'close');
  first.destroy();
  await released;
  const again = await exchangeFrom('127.0.0.1', port, `GET /x HTTP/1.1\r\n${H}\r\n`, 1);
  t.equal(again.responses[0]?.status, 200, 'admitted once the first has closed');
});

t.test('reload: turning the cap on counts the connections already open; the rate applies at once', async (t) => {
  const { web, port, config } = await startWeb(t, { handlers: fakeHandlers(), config: { limits: { peer: { maxConnectionsPerPeer: 0 } } } });
  for (let index = 0; index < 2; index += 1) await heldConnection(t, '127.0.0.1', port);
  const result = await web.reload(withOverrides(config, { limits: { peer: { maxConnectionsPerPeer: 2, ratePerSec: 1, rateBurst: 1 } } }));
  t.same(result.needRestart, [], 'no restart needed');
  t.match(result.applied, ['limits.peer.maxConnectionsPerPeer', 'limits.peer.ratePerSec', 'limits.peer.rateBurst']);
  t.ok((await refusedOrIdle('127.0.0.1', port)).closed, 'the third connection is refused: the two open before the reload count');
  const rate = await exchangeFrom('127.0.0.2', port, requests(2, '/x'), 2);
  t.same(rate.responses.map((response) => response.status), [200, 429]);
});

t.test('request rate: a burst above rate+burst gets 429 + Retry-After from the web tier; other peers and health checks are not limited', async (t) => {
  const handlers = fakeHandlers();
  const { port } = await startWeb(t, { handlers, config: { limits: { peer: { ratePerSec: 1, rateBurst: 3 } } } });
  const burst = await exchangeFrom('127.0.0.1', port, requests(5, '/api/echo'), 5);
  const statuses = burst.responses.map((response) => response.status);
  // One token a second: the 5 pipelined requests arrive within milliseconds of each other.
  t.same(statuses.slice(0, 4), [200, 200, 200, 429], `burst of 3 allowed, then 429 (${statuses.join(' ')})`);
  const limited = burst.responses[3];
  t.equal(limited?.headers['x-served-by'], 'web', 'answered by the web tier itself');
  t.match(limited?.headers['retry-after'], /^[1-9]\d*$/, 'RFC 6585 §4: Retry-After in seconds');
  t.match(limited?.body ?? '', /"code":"WEB_ERR_TOO_MANY_REQUESTS"/);
  t.notOk(burst.closedByServer, 'a bodyless request refused by rate keeps the connection');
  t.equal(handlers.app.calls.length, 3, 'the limited requests never reached the app');

  const health = await exchangeFrom('127.0.0.1', port, `GET /healthz HTTP/1.1\r\n${H}\r\n`, 1);
  t.equal(health.responses[0]?.status, 200, 'health checks are not rate-limited');
  const operator = await exchangeFrom('127.0.0.1', port, `GET /-/status.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, 1);
  t.equal(operator.responses[0]?.status, 200, 'nor the operator endpoints (allowed peers only)');
  const other = await exchangeFrom('127.0.0.2', port, requests(3, '/api/echo'), 3);
  t.same(other.responses.map((response) => response.status), [200, 200, 200], 'another peer has its own bucket');

  const metrics = await exchangeFrom('127.0.0.2', port, `GET /-/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, 1);
  t.match(metrics.responses[0]?.body ?? '', /twotier_web_limited_total\{reason="rate"\} [1-9]/, 'counted in metrics');
});

t.test('request rate: a limited request with a body is answered and the connection closed (its body is never read)', async (t) => {
  const { port } = await startWeb(t, { handlers: fakeHandlers(), config: { limits: { peer: { ratePerSec: 1, rateBurst: 1 } } } });
  const post = `POST /api/echo HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabc`;
  const exchange = await exchangeFrom('127.0.0.1', port, post + post, 2);
  t.same(exchange.responses.map((response) => response.status), [200, 429]);
  t.equal(exchange.responses[1]?.headers['connection'], 'close');
});

t.test('a trusted proxy is exempt from both limits; the client it forwards for is rate-limited', async (t) => {
  const handlers = fakeHandlers();
  const { port } = await startWeb(t, {
    handlers,
    config: { server: { trustedProxies: ['127.0.0.3'] }, limits: { peer: { maxConnectionsPerPeer: 2, ratePerSec: 1, rateBurst: 2 } } },
  });
  for (let index = 0; index < 4; index += 1) await heldConnection(t, '127.0.0.3', port);
  t.pass('the trusted proxy holds 4 connections with a cap of 2');

  const own = await exchangeFrom('127.0.0.3', port, requests(6, '/api/echo'), 6);
  t.same(own.responses.map((response) => response.status), [200, 200, 200, 200, 200, 200], 'its own requests (no X-Forwarded-For) are not rate-limited');

  const client = await exchangeFrom('127.0.0.3', port, requests(3, '/api/echo', 'X-Forwarded-For: 203.0.113.7\r\n'), 3);
  t.same(client.responses.map((response) => response.status), [200, 200, 429], 'the forwarded client 203.0.113.7 is limited');
  const chain = await exchangeFrom('127.0.0.3', port, requests(1, '/api/echo', 'X-Forwarded-For: 198.51.100.1, 203.0.113.7, 127.0.0.3\r\n'), 1);
  t.equal(chain.responses[0]?.status, 429, 'the last untrusted address counts (trusted hops skipped, the client-written left part ignored)');
  const another = await exchangeFrom('127.0.0.3', port, requests(2, '/api/echo', 'X-Forwarded-For: 203.0.113.8\r\n'), 2);
  t.same(another.responses.map((response) => response.status), [200, 200], 'another forwarded client has its own bucket');

  const spoof = await exchangeFrom('127.0.0.1', port, requests(2, '/api/echo', 'X-Forwarded-For: 203.0.113.8\r\n'), 2);
  t.same(spoof.responses.map((response) => response.status), [200, 200], "an untrusted peer's X-Forwarded-For is not believed: it is limited as itself");
});
