import t from 'tap';
import { createUpstreamPool, parseUpstream, PASSIVE_HEALTH_DEFAULTS } from '../../../web-tier/proxy/pool.js';

t.test('base URLs are parsed into origin and base path; anything else is refused', async (t) => {
  t.same(parseUpstream('http://127.0.0.1:3000'), { url: 'http://127.0.0.1:3000', origin: 'http://127.0.0.1:3000', basePath: '' });
  t.same(parseUpstream('http://app.internal:3000/mount/'), { url: 'http://app.internal:3000/mount/', origin: 'http://app.internal:3000', basePath: '/mount' });
  t.throws(() => parseUpstream('not a url'), TypeError);
  t.throws(() => parseUpstream('https://127.0.0.1:3000'), /must be http/);
  t.throws(() => parseUpstream('http://127.0.0.1:3000/?q=1'), /must be http/);
  t.throws(() => createUpstreamPool(['http://ok:1', 'ftp://no']), /ftp:\/\/no/);
});

t.test('round-robin over the upstreams', async (t) => {
  const pool = createUpstreamPool(['http://a:1', 'http://b:1', 'http://c:1']);
  t.same(Array.from({ length: 7 }, () => pool.pick()?.url), ['http://a:1', 'http://b:1', 'http://c:1', 'http://a:1', 'http://b:1', 'http://c:1', 'http://a:1']);
});

t.test('an empty pool picks nothing and is not healthy', async (t) => {
  const pool = createUpstreamPool([]);
  t.equal(pool.pick(), undefined);
  t.equal(pool.hasHealthy(), false);
  t.equal(pool.retryAfterSeconds(), PASSIVE_HEALTH_DEFAULTS.failTimeoutMs / 1000);
  t.same(pool.states(), []);
});

t.test('passive health: maxFails consecutive failures take an upstream out for failTimeoutMs', async (t) => {
  let clock = 1_000;
  const pool = createUpstreamPool(['http://a:1', 'http://b:1'], { maxFails: 2, failTimeoutMs: 5_000 }, () => clock);
  const a = pool.pick();
  t.equal(a?.url, 'http://a:1');
  if (a === undefined) return;
  pool.reportFailure(a, 'ECONNREFUSED');
  t.equal(pool.states()[0]?.healthy, true, 'one failure is not enough');
  pool.reportSuccess(a);
  pool.reportFailure(a, 'ECONNREFUSED');
  t.equal(pool.states()[0]?.healthy, true, 'a success in between resets the count');
  pool.reportFailure(a, 'ECONNRESET');
  t.same(pool.states()[0], { url: 'http://a:1', healthy: false, lastError: 'ECONNRESET' });
  t.same([pool.pick()?.url, pool.pick()?.url], ['http://b:1', 'http://b:1'], 'only b gets traffic');
  clock += 2_500;
  t.equal(pool.retryAfterSeconds(), 3);
  clock += 2_500;
  t.equal(pool.states()[0]?.healthy, true, 'back after failTimeoutMs');
  t.same(new Set([pool.pick()?.url, pool.pick()?.url]), new Set(['http://a:1', 'http://b:1']));
});

t.test('all upstreams down: nothing to pick, Retry-After says when the first returns', async (t) => {
  let clock = 0;
  const pool = createUpstreamPool(['http://a:1'], { maxFails: 1, failTimeoutMs: 10_000 }, () => clock);
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
