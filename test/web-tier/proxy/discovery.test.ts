/**
 * DNS discovery (web-tier/proxy/discovery.ts) against the pool, with a resolver the test
 * answers for: a name becomes every address behind it, later answers add and drop addresses
 * in place (kept ones keep their state, new ones wait for their check), a failed answer keeps
 * what is known, addresses and localhost are never expanded. The same behaviour across real
 * network namespaces and /etc/hosts is test/e2e/dns-discovery.test.ts.
 */
import t from 'tap';
import pino from 'pino';
import { startDiscovery, type Resolve } from '../../../web-tier/proxy/discovery.js';
import { createUpstreamPool } from '../../../web-tier/proxy/pool.js';

const logger = pino({ level: 'silent' });

/** A resolver whose answer the test sets; `calls` counts lookups. */
function fakeDns(initial: Record<string, string[]>): { resolve: Resolve; answers: Record<string, string[] | Error>; calls: () => number } {
  const answers: Record<string, string[] | Error> = { ...initial };
  let calls = 0;
  return {
    answers,
    calls: () => calls,
    resolve: async (hostname) => {
      calls += 1;
      const answer = answers[hostname];
      if (answer === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
}

t.test('a name stands for every address behind it; later answers add and drop addresses in place', async (t) => {
  const pool = createUpstreamPool(['http://app:3000/base#weight=2', 'http://127.0.0.1:4000']);
  const dns = fakeDns({ app: ['198.18.0.12', '198.18.0.11'] });
  const discovery = startDiscovery(['http://app:3000/base#weight=2', 'http://127.0.0.1:4000'], pool, { resolveMs: 0, checkNew: true, logger, resolve: dns.resolve });
  t.teardown(() => discovery?.close());
  t.ok(discovery, 'a name starts discovery');
  t.same(pool.upstreams.map((upstream) => upstream.url), ['http://app:3000/base', 'http://127.0.0.1:4000'], 'until the first answer the pool holds the name itself');
  await discovery?.refresh();
  t.same(pool.upstreams.map((upstream) => upstream.url), ['http://198.18.0.11:3000/base', 'http://198.18.0.12:3000/base', 'http://127.0.0.1:4000']);
  t.same(pool.upstreams.map((upstream) => upstream.weight), [2, 2, 1], 'the weight carries over to each address');
  t.same(pool.states().map((state) => state.state), ['up', 'up', 'up'], 'the first answer is trusted like a configured list');

  // One replica's state must survive a re-resolve that keeps it.
  const kept = pool.upstreams[0];
  if (kept !== undefined) pool.reportDraining(kept);
  dns.answers['app'] = ['198.18.0.11', '198.18.0.13'];
  await discovery?.refresh();
  t.same(pool.upstreams.map((upstream) => upstream.url), ['http://198.18.0.11:3000/base', 'http://198.18.0.13:3000/base', 'http://127.0.0.1:4000'], '.12 dropped, .13 added');
  t.equal(pool.upstreams[0], kept, 'a kept address is the same member');
  t.same(pool.states().map((state) => state.state), ['draining', 'down', 'up'], 'kept state kept; the new address waits for its check');
  t.equal(pool.states()[1]?.lastError, 'NOT_CHECKED');
  const added = pool.upstreams[1];
  if (added !== undefined) pool.reportCheck(added, 'up');
  t.equal(pool.states()[1]?.state, 'up', 'in rotation after a ready check');

  // A dropped member still accepts release/report calls from its requests in flight.
  const dropped = { ...kept!, url: 'http://198.18.0.12:3000/base' };
  t.doesNotThrow(() => {
    pool.release(dropped);
    pool.reportFailure(dropped, 'ECONNRESET');
  });
});

t.test('a failed or empty answer keeps the addresses known', async (t) => {
  const pool = createUpstreamPool(['http://app:3000']);
  const dns = fakeDns({ app: ['198.18.0.11'] });
  const discovery = startDiscovery(['http://app:3000'], pool, { resolveMs: 0, checkNew: false, logger, resolve: dns.resolve });
  t.teardown(() => discovery?.close());
  await discovery?.refresh();
  dns.answers['app'] = Object.assign(new Error('queryA ETIMEOUT app'), { code: 'ETIMEOUT' });
  await discovery?.refresh();
  t.same(pool.upstreams.map((upstream) => upstream.hostname), ['198.18.0.11'], 'a resolver failure empties nothing');
  dns.answers['app'] = [];
  await discovery?.refresh();
  t.same(pool.upstreams.map((upstream) => upstream.hostname), ['198.18.0.11'], 'nor does an empty answer');
  dns.answers['app'] = ['198.18.0.11', '198.18.0.14'];
  await discovery?.refresh();
  t.same(pool.states().map((state) => state.state), ['up', 'up'], 'checkNew false: a new address is in rotation at once');
});

t.test('addresses and localhost are not discovered; IPv6 answers are bracketed', async (t) => {
  const pool = createUpstreamPool(['http://127.0.0.1:3000', 'http://localhost:3001', 'http://[::1]:3002']);
  t.equal(startDiscovery(['http://127.0.0.1:3000', 'http://localhost:3001', 'http://[::1]:3002'], pool, { resolveMs: 10, checkNew: true, logger }), undefined);
  const v6 = createUpstreamPool(['http://app6:3000']);
  const dns = fakeDns({ app6: ['fd00::11'] });
  const discovery = startDiscovery(['http://app6:3000'], v6, { resolveMs: 0, checkNew: true, logger, resolve: dns.resolve });
  t.teardown(() => discovery?.close());
  await discovery?.refresh();
  t.same(v6.upstreams.map((upstream) => [upstream.url, upstream.hostname]), [['http://[fd00::11]:3000', 'fd00::11']]);
});

t.test('resolved again on the interval and soon after an address goes down', async (t) => {
  const pool = createUpstreamPool(['http://app:3000'], { passiveHealth: { maxFails: 1, failTimeoutMs: 10_000 } });
  const dns = fakeDns({ app: ['198.18.0.11', '198.18.0.12'] });
  const discovery = startDiscovery(['http://app:3000'], pool, { resolveMs: 20, checkNew: false, logger, resolve: dns.resolve });
  t.teardown(() => discovery?.close());
  await discovery?.refresh();
  const before = dns.calls();
  dns.answers['app'] = ['198.18.0.11'];
  // The interval picks the change up by itself (bounded wait).
  for (let i = 0; i < 200 && pool.upstreams.length !== 1; i += 1) await new Promise((resolve) => setTimeout(resolve, 10));
  t.same(pool.upstreams.map((upstream) => upstream.hostname), ['198.18.0.11'], 'the interval re-resolved');
  t.ok(dns.calls() > before);
  discovery?.close();

  // With no interval, a failure triggers the look-up.
  const failing = createUpstreamPool(['http://app:3000'], { passiveHealth: { maxFails: 1, failTimeoutMs: 10_000 } });
  const dns2 = fakeDns({ app: ['198.18.0.11', '198.18.0.12'] });
  const once = startDiscovery(['http://app:3000'], failing, { resolveMs: 0, checkNew: false, logger, resolve: dns2.resolve });
  t.teardown(() => once?.close());
  await once?.refresh();
  dns2.answers['app'] = ['198.18.0.12'];
  // The first look-up was just now: the failure-triggered one waits out the 1 s gap.
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  const gone = failing.upstreams[0];
  if (gone !== undefined) failing.reportFailure(gone, 'ECONNREFUSED');
  for (let i = 0; i < 200 && failing.upstreams.length !== 1; i += 1) await new Promise((resolve) => setTimeout(resolve, 10));
  t.same(failing.upstreams.map((upstream) => upstream.hostname), ['198.18.0.12'], 'the refused address is gone after the failure-triggered look-up');
});
