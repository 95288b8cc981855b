import t from 'tap';
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { echo, request, startFront, startUpstream, type Teardown } from './helpers.js';

interface ErrorBody {
  error: { code: string };
}

/** An upstream that holds every request until the test releases it; `arrived` resolves per request. */
async function startHolding(t: Teardown) {
  const held: ServerResponse[] = [];
  const upstream = await startUpstream(t, (req, res) => {
    req.resume();
    held.push(res);
    upstream.server.emit('held', res);
  });
  t.teardown(() => {
    for (const res of held) if (!res.writableEnded) res.end();
  });
  return {
    upstream,
    held,
    arrived: () => once(upstream.server, 'held'),
    releaseAll: () => {
      for (const res of held.splice(0)) res.end('released');
    },
  };
}

const countBy = (values: (string | undefined)[]): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value ?? 'none'] = (counts[value ?? 'none'] ?? 0) + 1;
  return counts;
};

t.test('weights: an upstream of weight 3 gets three requests for every one of weight 1', async (t) => {
  const a = await startUpstream(t, echo);
  const b = await startUpstream(t, echo);
  const front = await startFront(t, { upstreams: [`${a.url}#weight=3`, b.url] });
  for (let index = 0; index < 8; index += 1) t.equal((await request(front.port)).status, 200);
  t.same(countBy(front.contexts.map((ctx) => ctx.upstream)), { [a.url]: 6, [b.url]: 2 });
  t.match(front.handler.upstreamStates(), [{ url: a.url, weight: 3 }, { url: b.url, weight: 1 }], 'the #weight fragment is not part of the URL');
});

t.test('least-conn: while one upstream is busy, the next requests go to the idle one', async (t) => {
  const slow = await startHolding(t);
  const fast = await startUpstream(t, echo);
  const front = await startFront(t, { upstreams: [slow.upstream.url, fast.url], balance: 'least-conn' });
  const arrived = slow.arrived();
  const first = request(front.port, { path: '/api/slow' });
  await arrived;
  for (let index = 0; index < 3; index += 1) t.equal((await request(front.port)).status, 200);
  t.same(front.contexts.slice(1).map((ctx) => ctx.upstream), [fast.url, fast.url, fast.url], 'round-robin would have sent one to the busy upstream');
  t.match(front.handler.upstreamStates(), [{ url: slow.upstream.url, active: 1 }, { url: fast.url, active: 0 }]);
  slow.releaseAll();
  t.equal((await first).body, 'released');
});

t.test('round-robin under the same load keeps alternating (the control for least-conn)', async (t) => {
  const slow = await startHolding(t);
  const fast = await startUpstream(t, echo);
  const front = await startFront(t, { upstreams: [slow.upstream.url, fast.url] });
  const arrived = slow.arrived();
  const first = request(front.port);
  await arrived;
  t.equal((await request(front.port)).status, 200);
  const second = slow.arrived();
  const third = request(front.port);
  await second;
  t.same(front.contexts.map((ctx) => ctx.upstream), [slow.upstream.url, fast.url, slow.upstream.url]);
  slow.releaseAll();
  await Promise.all([first, third]);
});

t.test('connection cap + queue: a waiter is served when a slot frees; a full queue → 503 + Retry-After', async (t) => {
  const slow = await startHolding(t);
  const front = await startFront(t, { upstreams: [slow.upstream.url], maxSocketsPerUpstream: 1, maxQueue: 1, queueTimeoutMs: 10_000 });
  const arrived = slow.arrived();
  const first = request(front.port, { path: '/api/1' });
  await arrived;
  // The front's own listener runs first, so once 'request' fires here the second is queued.
  const queued = once(front.server, 'request');
  const second = request(front.port, { path: '/api/2' });
  await queued;
  const third = await request(front.port, { path: '/api/3' });
  t.equal(third.status, 503);
  t.equal(third.headers['retry-after'], '1');
  t.equal((JSON.parse(third.body) as ErrorBody).error.code, 'WEB_ERR_OVERLOADED');
  t.match(front.handler.upstreamStates(), [{ active: 1, queued: 1 }]);
  t.equal(slow.held.length, 1, 'the cap held: one request upstream');
  const next = slow.arrived();
  slow.releaseAll();
  await next;
  slow.releaseAll();
  t.same([(await first).status, (await second).status], [200, 200], 'the queued one was served when the slot freed');
  t.match(front.handler.stats(), { queueFull: 1, queueTimeouts: 0 });
  t.match(front.handler.upstreamStates(), [{ active: 0, queued: 0 }]);
});

t.test('a request that waits longer than queueTimeoutMs gets 503 + Retry-After', { timeout: 5000 }, async (t) => {
  const slow = await startHolding(t);
  const front = await startFront(t, { upstreams: [slow.upstream.url], maxSocketsPerUpstream: 1, queueTimeoutMs: 100 });
  const arrived = slow.arrived();
  const first = request(front.port);
  await arrived;
  const waited = await request(front.port);
  t.equal(waited.status, 503);
  t.equal(waited.headers['retry-after'], '1');
  t.equal((JSON.parse(waited.body) as ErrorBody).error.code, 'WEB_ERR_OVERLOADED');
  t.equal(front.handler.stats().queueTimeouts, 1);
  t.equal(slow.held.length, 1, 'it never reached the upstream');
  slow.releaseAll();
  t.equal((await first).status, 200);
});

t.test('maxQueue 0: no waiting at all, 503 at once when the upstream is at its cap', async (t) => {
  const slow = await startHolding(t);
  const front = await startFront(t, { upstreams: [slow.upstream.url], maxSocketsPerUpstream: 1, maxQueue: 0 });
  const arrived = slow.arrived();
  const first = request(front.port);
  await arrived;
  t.equal((await request(front.port)).status, 503);
  slow.releaseAll();
  await first;
});
