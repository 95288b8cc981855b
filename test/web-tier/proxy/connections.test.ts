import t from 'tap';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { echo, request, startFront, startUpstream, type Teardown } from './helpers.js';

t.test('upstream connections are kept alive and reused (http-proxy#929)', async (t) => {
  const upstream = await startUpstream(t, echo);
  const front = await startFront(t, { upstreams: [upstream.url] });
  for (let index = 0; index < 3; index += 1) t.equal((await request(front.port)).status, 200);
  t.equal(upstream.connections(), 1, 'three requests, one upstream connection');
});

t.test('connections per upstream are bounded; the rest wait their turn', async (t) => {
  let inFlight = 0;
  let peak = 0;
  const upstream = await startUpstream(t, (_req, res) => {
    inFlight += 1;
    peak = Math.max(peak, inFlight);
    setImmediate(() => {
      inFlight -= 1;
      res.end('ok');
    });
  });
  const front = await startFront(t, { upstreams: [upstream.url], maxSocketsPerUpstream: 2 });
  const replies = await Promise.all(Array.from({ length: 6 }, () => request(front.port)));
  t.same(replies.map((reply) => reply.status), [200, 200, 200, 200, 200, 200]);
  t.ok(upstream.connections() <= 2, `at most 2 connections (saw ${upstream.connections()})`);
  t.ok(peak <= 2, `at most 2 requests at once upstream (saw ${peak})`);
});

t.test('an idle pooled connection is closed by the proxy before the app would (nodejs/node#20256)', { timeout: 5000 }, async (t) => {
  const upstream = await startUpstream(t, echo);
  upstream.server.keepAliveTimeout = 60_000;
  const front = await startFront(t, { upstreams: [upstream.url], keepAliveIdleMs: 100 });
  const connected = once(upstream.server, 'connection') as Promise<[Socket]>;
  t.equal((await request(front.port)).status, 200);
  const [socket] = await connected;
  // 'end' means the peer (the proxy) closed it, not the app tier's own timer.
  await once(socket, 'end');
  t.pass('the proxy closed its idle connection');
});

/**
 * An upstream that drops the connection, before any response byte, on the second request of a
 * keep-alive connection: what happens when the app closes an idle socket just as it is reused.
 */
async function startStaleUpstream(t: Teardown) {
  const seen: string[] = [];
  const perSocket = new WeakMap<object, number>();
  const upstream = await startUpstream(t, (req, res) => {
    const count = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, count);
    seen.push(`${req.method} ${count}`);
    if (count > 1) {
      req.socket.destroy();
      return;
    }
    req.resume();
    req.on('end', () => res.end(`${req.method} answered`));
  });
  return { upstream, seen };
}

t.test('a GET that hits a reset on a reused connection is retried once, on a fresh one', async (t) => {
  const { upstream, seen } = await startStaleUpstream(t);
  const front = await startFront(t, { upstreams: [upstream.url], passiveHealth: { maxFails: 1, failTimeoutMs: 30_000 } });
  t.equal((await request(front.port)).status, 200);
  const retried = await request(front.port);
  t.equal(retried.status, 200);
  t.equal(retried.body, 'GET answered');
  t.same(seen, ['GET 1', 'GET 2', 'GET 1'], 'reset on the reused socket, answered on a new one');
  t.equal(front.handler.hasHealthyUpstream(), true, 'the keep-alive race does not count against the upstream');
});

t.test('a POST that hits the same reset is never retried: 502', async (t) => {
  const { upstream, seen } = await startStaleUpstream(t);
  const front = await startFront(t, { upstreams: [upstream.url] });
  t.equal((await request(front.port)).status, 200);
  const reply = await request(front.port, { method: 'POST', body: 'create me' });
  t.equal(reply.status, 502);
  t.equal((JSON.parse(reply.body) as { error: { code: string } }).error.code, 'WEB_ERR_UPSTREAM_RESET');
  t.same(seen, ['GET 1', 'POST 2'], 'the POST reached the upstream exactly once');
  // Without a body too: the method alone rules it out.
  t.equal((await request(front.port)).status, 200);
  t.equal((await request(front.port, { method: 'POST', headers: { 'content-length': '0' } })).status, 502);
  t.same(seen.slice(2), ['GET 1', 'POST 2']);
});

t.test('with retries switched off, the GET gets the 502', async (t) => {
  const { upstream, seen } = await startStaleUpstream(t);
  const front = await startFront(t, { upstreams: [upstream.url], retryIdempotentOnReset: false });
  t.equal((await request(front.port)).status, 200);
  t.equal((await request(front.port)).status, 502);
  t.same(seen, ['GET 1', 'GET 2']);
});

t.test('a retry that stalls still times out: 504, never a hang', { timeout: 5000 }, async (t) => {
  const perSocket = new WeakMap<object, number>();
  const held: unknown[] = [];
  const upstream = await startUpstream(t, (req, res) => {
    const count = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, count);
    if (upstream.connections() === 1 && count === 1) res.end('warm');
    else if (count > 1) req.socket.destroy();
    else held.push(res);
  });
  const front = await startFront(t, { upstreams: [upstream.url], responseTimeoutMs: 300 });
  t.equal((await request(front.port)).body, 'warm');
  const reply = await request(front.port);
  t.equal(reply.status, 504);
  t.equal(upstream.connections(), 2, 'the retry went out on a second connection');
  t.equal(held.length, 1);
});
