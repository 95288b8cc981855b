import t from 'tap';
import { createUpstreamPool, parseUpstream, PASSIVE_HEALTH_DEFAULTS, type Upstream, type UpstreamPool } from '../../../web-tier/proxy/pool.js';

const hostOf = (upstream: Upstream | undefined): string => (upstream === undefined ? 'none' : new URL(upstream.url).hostname);

/** Picks `count` times without holding slots. */
function picks(pool: UpstreamPool, count: number): string[] {
  return Array.from({ length: count }, () => hostOf(pool.pick()));
}

function tally(names: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of names) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

t.test('base URLs are parsed into origin, base path and weight; anything else is refused', async (t) => {
  t.same(parseUpstream('http://127.0.0.1:3000'), { url: 'http://127.0.0.1:3000', origin: 'http://127.0.0.1:3000', basePath: '', hostname: '127.0.0.1', port: 3000, weight: 1 });
  t.same(parseUpstream('http://app.internal/mount/'), { url: 'http://app.internal/mount/', origin: 'http://app.internal', basePath: '/mount', hostname: 'app.internal', port: 80, weight: 1 });
  t.match(parseUpstream('http://[::1]:3000'), { origin: 'http://[::1]:3000', hostname: '::1', port: 3000 });
  t.match(parseUpstream('http://a:1#weight=3'), { url: 'http://a:1', origin: 'http://a:1', basePath: '', weight: 3 });
  t.match(parseUpstream({ url: 'http://a:1', weight: 2 }), { url: 'http://a:1', origin: 'http://a:1', basePath: '', weight: 2 });
  t.throws(() => parseUpstream('not a url'), TypeError);
  t.throws(() => parseUpstream('ftp://127.0.0.1:3000'), /must be http/);
  t.match(parseUpstream('https://app.internal'), { origin: 'https://app.internal', port: 443, tls: { servername: 'app.internal' } });
  t.match(parseUpstream('https://10.0.0.5:3443'), { port: 3443, tls: { servername: '' } });
  t.throws(() => parseUpstream('http://127.0.0.1:3000/?q=1'), /must be http/);
  t.throws(() => parseUpstream('http://a:1#w=2'), /must be http/);
  t.throws(() => parseUpstream('http://a:1#weight=0'), /weight/);
  t.throws(() => parseUpstream({ url: 'http://a:1', weight: 1.5 }), /weight/);
  t.throws(() => createUpstreamPool(['http://ok:1', 'ftp://no']), /ftp:\/\/no/);
});

t.test('round-robin over the upstreams', async (t) => {
  const pool = createUpstreamPool(['http://a:1', 'http://b:1', 'http://c:1']);
  t.same(picks(pool, 7), ['a', 'b', 'c', 'a', 'b', 'c', 'a']);
});

t.test('weighted round-robin: shares follow the weights, spread out rather than in bursts (nginx smooth WRR)', async (t) => {
  const pool = createUpstreamPool(['http://a:1#weight=5', 'http://b:1', { url: 'http://c:1', weight: 1 }]);
  const seven = picks(pool, 7);
  t.same(seven, ['a', 'a', 'b', 'a', 'c', 'a', 'a'], 'nginx’s documented sequence for weights 5, 1, 1');
  t.same(tally(picks(pool, 70)), { a: 50, b: 10, c: 10 });
});

t.test('least-conn: the upstream with the fewest requests in flight (per unit of weight) gets the next one', async (t) => {
  const pool = createUpstreamPool(['http://a:1', 'http://b:1', 'http://c:1'], { balance: 'least-conn' });
  const [a, b, c] = pool.upstreams as [Upstream, Upstream, Upstream];
  pool.acquire(a);
  pool.acquire(a);
  pool.acquire(b);
  t.equal(hostOf(pool.pick()), 'c', 'c has none in flight');
  pool.acquire(c);
  t.same(new Set(picks(pool, 2)), new Set(['b', 'c']), 'b and c tie at one each and take turns');
  pool.release(a);
  pool.release(a);
  t.equal(hostOf(pool.pick()), 'a', 'a is free again');

  const weighted = createUpstreamPool(['http://a:1#weight=2', 'http://b:1'], { balance: 'least-conn' });
  const [wa, wb] = weighted.upstreams as [Upstream, Upstream];
  weighted.acquire(wa);
  weighted.acquire(wb);
  t.equal(hostOf(weighted.pick()), 'a', 'one in flight on weight 2 is half the load of one on weight 1');
  // Under steady load, least-conn keeps the counts level: acquire every pick, release the busiest.
  const spread = createUpstreamPool(['http://a:1', 'http://b:1'], { balance: 'least-conn' });
  for (let step = 0; step < 10; step += 1) {
    const next = spread.pick();
    if (next !== undefined) spread.acquire(next);
  }
  t.same(spread.states().map((state) => state.active), [5, 5]);
});

t.test('a per-upstream cap: a full upstream is skipped; all full → nothing to pick', async (t) => {
  const pool = createUpstreamPool(['http://a:1', 'http://b:1'], { maxActivePerUpstream: 1 });
  const [a, b] = pool.upstreams as [Upstream, Upstream];
  pool.acquire(a);
  t.same(picks(pool, 3), ['b', 'b', 'b']);
  pool.acquire(b);
  t.equal(pool.pick(), undefined);
  t.equal(pool.hasHealthy(), true, 'full is not unhealthy');
  pool.release(a);
  t.equal(hostOf(pool.pick()), 'a');
});

t.test('pick(avoid) prefers another upstream, and falls back to the same one when it is the only choice', async (t) => {
  const pool = createUpstreamPool(['http://a:1', 'http://b:1']);
  const [a] = pool.upstreams as [Upstream];
  t.same(Array.from({ length: 4 }, () => hostOf(pool.pick([a]))), ['b', 'b', 'b', 'b']);
  const single = createUpstreamPool(['http://a:1']);
  t.equal(hostOf(single.pick(single.upstreams)), 'a');
});

t.test('an empty pool picks nothing and is not healthy', async (t) => {
  const pool = createUpstreamPool([]);
  t.equal(pool.pick(), undefined);
  t.equal(pool.hasHealthy(), false);
  t.equal(pool.retryAfterSeconds(), PASSIVE_HEALTH_DEFAULTS.failTimeoutMs / 1000);
  t.same(pool.states(), []);
});

t.test('passive health: maxFails consecutive failures within failTimeoutMs take an upstream out for failTimeoutMs', async (t) => {
  let clock = 1_000;
  const pool = createUpstreamPool(['http://a:1', 'http://b:1'], { passiveHealth: { maxFails: 2, failTimeoutMs: 5_000 } }, () => clock);
  const changes: string[] = [];
  pool.onChange(() => changes.push(pool.states().map((state) => state.state).join(',')));
  const a = pool.pick();
  t.equal(a?.url, 'http://a:1');
  if (a === undefined) return;
  pool.reportFailure(a, 'ECONNREFUSED');
  t.equal(pool.states()[0]?.healthy, true, 'one failure is not enough');
  pool.reportSuccess(a);
  pool.reportFailure(a, 'ECONNREFUSED');
  t.equal(pool.states()[0]?.healthy, true, 'a success in between resets the count');
  clock += 6_000;
  pool.reportFailure(a, 'ECONNREFUSED');
  t.equal(pool.states()[0]?.healthy, true, 'a failure older than failTimeoutMs does not count (nginx fail_timeout)');
  pool.reportFailure(a, 'ECONNRESET');
  t.match(pool.states()[0], { url: 'http://a:1', healthy: false, state: 'down', failures: 4, lastError: 'ECONNRESET' });
  t.same(changes, ['down,up'], 'one change reported, when it went down');
  t.same(picks(pool, 2), ['b', 'b'], 'only b gets traffic');
  clock += 2_500;
  t.equal(pool.retryAfterSeconds(), 3);
  clock += 2_500;
  t.equal(pool.states()[0]?.healthy, true, 'back after failTimeoutMs');
  t.same(new Set(picks(pool, 2)), new Set(['a', 'b']));
});

t.test('all upstreams down: nothing to pick, Retry-After says when the first returns', async (t) => {
  let clock = 0;
  const pool = createUpstreamPool(['http://a:1'], { passiveHealth: { maxFails: 1, failTimeoutMs: 10_000 } }, () => clock);
  const a = pool.pick();
  if (a === undefined) return t.fail('no upstream');
  pool.reportFailure(a, 'UPSTREAM_TIMEOUT');
  t.equal(pool.pick(), undefined);
  t.equal(pool.hasHealthy(), false);
  clock = 100;
  t.equal(pool.retryAfterSeconds(), 10);
  clock = 9_999;
  t.equal(pool.retryAfterSeconds(), 1);
});

t.test('active checks: draining and down take an upstream out, a ready answer puts it back', async (t) => {
  let clock = 50;
  const pool = createUpstreamPool(['http://a:1', 'http://b:1'], {}, () => clock);
  const [a] = pool.upstreams as [Upstream];
  pool.reportCheck(a, 'draining');
  t.match(pool.states()[0], { healthy: false, state: 'draining', lastError: 'DRAINING', lastCheckAt: 50 });
  t.same(picks(pool, 2), ['b', 'b']);
  pool.reportCheck(a, 'down', 'ECONNREFUSED');
  t.match(pool.states()[0], { state: 'down', lastError: 'ECONNREFUSED' });
  clock = 60;
  pool.reportCheck(a, 'up');
  t.match(pool.states()[0], { healthy: true, state: 'up', lastCheckAt: 60 });
  pool.reportDraining(a);
  t.equal(pool.states()[0]?.state, 'draining', 'a draining answer to a request takes it out too');
  pool.reportCheck(a, 'up');
  t.equal(pool.states()[0]?.state, 'up', 'until a check says it is ready');
});

t.test('latency is an exponentially weighted average of the times to the response head', async (t) => {
  const pool = createUpstreamPool(['http://a:1']);
  const [a] = pool.upstreams as [Upstream];
  pool.reportSuccess(a, 10);
  t.equal(pool.states()[0]?.latencyMsEwma, 10);
  pool.reportSuccess(a, 20);
  t.equal(pool.states()[0]?.latencyMsEwma, 12);
});

t.test('a ready check ends a passive back-off from refused connections, but not one from timeouts', async (t) => {
  const pool = createUpstreamPool(['http://a:1', 'http://b:1'], { passiveHealth: { maxFails: 1, failTimeoutMs: 60_000 } });
  const [a, b] = pool.upstreams as [Upstream, Upstream];
  pool.reportFailure(a, 'ECONNREFUSED');
  pool.reportFailure(b, 'UPSTREAM_TIMEOUT');
  t.match(pool.states(), [{ state: 'down' }, { state: 'down' }]);
  pool.reportCheck(a, 'up');
  pool.reportCheck(b, 'up');
  t.match(pool.states(), [{ state: 'up' }, { state: 'down' }], 'a stalled app can still answer /readyz');
});
