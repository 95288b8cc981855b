import t from 'tap';
import type { RequestListener } from 'node:http';
import { captureLogger, echo, refusedUrl, request, startFront, startUpstream, type Teardown } from './helpers.js';

/** An app worker in miniature: /readyz says 200 or 503 (draining), everything else is echoed. */
async function startWorker(t: Teardown) {
  const state = { ready: true, appRequests: 0, checks: 0 };
  const listener: RequestListener = (req, res) => {
    if (req.url === '/readyz') {
      state.checks += 1;
      res.writeHead(state.ready ? 200 : 503, { 'content-type': 'application/json', ...(state.ready ? {} : { 'retry-after': '1' }) });
      res.end(JSON.stringify({ status: state.ready ? 'ready' : 'draining' }));
      return;
    }
    state.appRequests += 1;
    echo(req, res);
  };
  const upstream = await startUpstream(t, listener);
  return { upstream, state };
}

t.test('active check: a draining upstream leaves rotation with zero failed requests, and comes back when ready', async (t) => {
  const a = await startWorker(t);
  const b = await startWorker(t);
  const front = await startFront(t, { upstreams: [a.upstream.url, b.upstream.url], activeHealth: { intervalMs: 60_000, timeoutMs: 1_000, path: '/readyz' } });
  const statuses: number[] = [];
  for (let index = 0; index < 4; index += 1) statuses.push((await request(front.port)).status);
  t.same([a.state.appRequests, b.state.appRequests], [2, 2]);

  a.state.ready = false;
  await front.handler.checkUpstreams();
  t.match(front.handler.upstreamStates(), [{ url: a.upstream.url, healthy: false, state: 'draining', lastError: 'DRAINING' }, { url: b.upstream.url, healthy: true, state: 'up' }]);
  t.type(front.handler.upstreamStates()[0]?.lastCheckAt, 'number');
  for (let index = 0; index < 6; index += 1) statuses.push((await request(front.port)).status);
  t.same([a.state.appRequests, b.state.appRequests], [2, 8], 'a got nothing while draining');

  a.state.ready = true;
  await front.handler.checkUpstreams();
  t.equal(front.handler.upstreamStates()[0]?.state, 'up');
  for (let index = 0; index < 4; index += 1) statuses.push((await request(front.port)).status);
  t.same([a.state.appRequests, b.state.appRequests], [4, 10], 'back in rotation');
  t.ok(statuses.every((status) => status === 200), 'not a single failed client request');
  t.equal(front.handler.stats().retries, 0, 'and none needed a retry');
});

t.test('active check: a refused or failing /readyz marks the upstream down; the readiness says no upstream is healthy', { timeout: 5000 }, async (t) => {
  const dead = await refusedUrl();
  const broken = await startUpstream(t, (_req, res) => {
    res.writeHead(500);
    res.end();
  });
  const front = await startFront(t, { upstreams: [dead, broken.url] });
  t.equal(front.handler.hasHealthyUpstream(), true, 'up until checked');
  await front.handler.checkUpstreams();
  t.match(front.handler.upstreamStates(), [{ state: 'down', lastError: 'ECONNREFUSED' }, { state: 'down', lastError: 'HTTP_500' }]);
  t.equal(front.handler.hasHealthyUpstream(), false);
  const reply = await request(front.port);
  t.equal(reply.status, 503);
  t.ok(reply.headers['retry-after']);
});

t.test('active check: a /readyz that does not answer within timeoutMs counts as down', { timeout: 5000 }, async (t) => {
  const silent = await startUpstream(t, () => undefined);
  const front = await startFront(t, { upstreams: [silent.url], activeHealth: { intervalMs: 60_000, timeoutMs: 100, path: '/readyz' } });
  await front.handler.checkUpstreams();
  t.match(front.handler.upstreamStates(), [{ state: 'down', lastError: 'CHECK_TIMEOUT' }]);
});

t.test('the checks run by themselves every intervalMs, under the upstream base path, and log the change', { timeout: 5000 }, async (t) => {
  const paths: string[] = [];
  const upstream = await startUpstream(t, (req, res) => {
    paths.push(req.url ?? '');
    res.writeHead(503);
    res.end();
  });
  const { logger, next } = captureLogger();
  await startFront(t, { upstreams: [`${upstream.url}/mount`], activeHealth: { intervalMs: 20, timeoutMs: 1_000, path: '/readyz' }, logger });
  const line = await next((entry) => entry.msg === 'upstream state changed');
  t.match(line, { upstream: `${upstream.url}/mount`, from: 'up', to: 'draining' });
  t.equal(paths[0], '/mount/readyz');
});

t.test('active health off: no check ever reaches the upstream', async (t) => {
  const worker = await startWorker(t);
  const front = await startFront(t, { upstreams: [worker.upstream.url], activeHealth: { intervalMs: 0 } });
  await front.handler.checkUpstreams();
  t.equal(worker.state.checks, 0);
});

t.test('passive health through the proxy: after maxFails refusals the dead upstream gets no more requests', { timeout: 5000 }, async (t) => {
  const dead = await refusedUrl();
  const live = await startWorker(t);
  const front = await startFront(t, { upstreams: [dead, live.upstream.url], passiveHealth: { maxFails: 2, failTimeoutMs: 60_000 }, retryIdempotentOnReset: false });
  const statuses: number[] = [];
  for (let index = 0; index < 8; index += 1) statuses.push((await request(front.port)).status);
  t.same(statuses, [502, 200, 502, 200, 200, 200, 200, 200], 'two failures, then only the live one');
  t.match(front.handler.upstreamStates(), [{ url: dead, state: 'down', failures: 2 }, { url: live.upstream.url, state: 'up' }]);
  t.equal(live.state.appRequests, 6);
});

t.test('an upstream out of rotation is checked four times as often, so it is back soon after it is ready', { timeout: 3000 }, async (t) => {
  const worker = await startWorker(t);
  worker.state.ready = false;
  const { logger, next } = captureLogger();
  // intervalMs 4 s: within this test's 3 s only the faster re-check (every 1 s) can bring it back.
  const front = await startFront(t, { upstreams: [worker.upstream.url], activeHealth: { intervalMs: 4_000, timeoutMs: 1_000, path: '/readyz' }, logger });
  await front.handler.checkUpstreams();
  t.equal(front.handler.upstreamStates()[0]?.state, 'draining');
  worker.state.ready = true;
  t.match(await next((line) => line.msg === 'upstream state changed'), { from: 'draining', to: 'up' });
  t.equal((await request(front.port)).status, 200);
});

t.test('a ready check ends a back-off caused by refused connections, not one caused by timeouts', { timeout: 5000 }, async (t) => {
  const worker = await startWorker(t);
  const front = await startFront(t, { upstreams: [worker.upstream.url], passiveHealth: { maxFails: 1, failTimeoutMs: 60_000 } });
  // Drive the pool through the proxy: the app restarted on the same address is refused, then back.
  const port = worker.upstream.port;
  await new Promise<void>((resolve) => {
    worker.upstream.server.closeAllConnections();
    worker.upstream.server.close(() => resolve());
  });
  t.equal((await request(front.port)).status, 502);
  t.match(front.handler.upstreamStates(), [{ state: 'down', lastError: 'ECONNREFUSED' }]);
  worker.upstream.server.listen(port, '127.0.0.1');
  await new Promise((resolve) => worker.upstream.server.once('listening', resolve));
  await front.handler.checkUpstreams();
  t.match(front.handler.upstreamStates(), [{ state: 'up', healthy: true }], 'back at once, not after 60 s');
  t.equal((await request(front.port)).status, 200);
});

t.test('active check: one draining process behind a shared address (pm2 reload) does not take the address out', async (t) => {
  // pm2 cluster mode or a node:cluster primary: one port, several processes. The first fresh
  // connection reaches the instance pm2 is reloading (503), the next one its ready replacement.
  const worker = await startWorker(t);
  const front = await startFront(t, { upstreams: [worker.upstream.url], activeHealth: { intervalMs: 60_000, timeoutMs: 1_000, path: '/readyz' } });
  const checksBefore = worker.state.checks;
  let answered = 0;
  // The stub answers 503 exactly once, then 200, as the reloading instance and its replacement do.
  Object.defineProperty(worker.state, 'ready', { get: () => answered++ > 0, set: () => undefined, configurable: true });
  await front.handler.checkUpstreams();
  t.equal(front.handler.upstreamStates()[0]?.state, 'up', 'a ready answer on a fresh connection keeps the address in rotation');
  t.equal((await request(front.port)).status, 200);
  t.equal(worker.state.checks - checksBefore, 2, 'asked once more after the draining answer');

  // Every process draining (the whole address going away): out of rotation, as before.
  Object.defineProperty(worker.state, 'ready', { value: false, writable: true, configurable: true });
  await front.handler.checkUpstreams();
  t.match(front.handler.upstreamStates(), [{ state: 'draining', lastError: 'DRAINING' }]);
});
