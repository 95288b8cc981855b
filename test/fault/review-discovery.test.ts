/**
 * Attacker review of DNS discovery (issue 19): a name stands for every address it resolves to,
 * and each address becomes a pool member with its own health checks, metric series and status
 * page row. A resolver that answers with thousands of addresses (a wildcard or misconfigured
 * zone, a poisoned cache) must not turn into thousands of members: the pool keeps a bounded
 * number per name (the lowest addresses, so every web tier picks the same ones) and says so.
 */
import t from 'tap';
import pino from 'pino';
import { MAX_ADDRESSES_PER_NAME, startDiscovery } from '../../web-tier/proxy/discovery.js';
import { createUpstreamPool } from '../../web-tier/proxy/pool.js';

t.test('a name that resolves to 5000 addresses gives a bounded pool', async (t) => {
  const lines: { msg?: string; addresses?: number; kept?: number }[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const many = Array.from({ length: 5000 }, (_, index) => `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`);
  const pool = createUpstreamPool(['http://app:3000']);
  const discovery = startDiscovery(['http://app:3000'], pool, { resolveMs: 0, checkNew: true, logger, resolve: async () => many });
  t.teardown(() => discovery?.close());
  await discovery?.refresh();
  t.ok(MAX_ADDRESSES_PER_NAME >= 16 && MAX_ADDRESSES_PER_NAME <= 1024, `the bound (${MAX_ADDRESSES_PER_NAME}) fits any real replica count`);
  t.equal(pool.upstreams.length, MAX_ADDRESSES_PER_NAME, 'the pool holds the bound, not 5000 members');
  t.ok(lines.some((line) => /more addresses than/.test(line.msg ?? '') && line.addresses === 5000 && line.kept === MAX_ADDRESSES_PER_NAME), 'a warning names the count');
  // The same oversized answer again changes nothing (no churn from re-sorting a cut list).
  const before = pool.upstreams;
  await discovery?.refresh();
  t.same(pool.upstreams.map((upstream) => upstream.url), before.map((upstream) => upstream.url));
});

t.test('addresses that are never a replica (unspecified, multicast, broadcast) are not taken', async (t) => {
  const logger = pino({ level: 'silent' });
  const pool = createUpstreamPool(['http://app:3000']);
  const answer = ['0.0.0.0', '0.1.2.3', '::', '224.0.0.1', '239.1.2.3', 'ff02::1', '255.255.255.255', '198.18.0.11'];
  const discovery = startDiscovery(['http://app:3000'], pool, { resolveMs: 0, checkNew: true, logger, resolve: async () => answer });
  t.teardown(() => discovery?.close());
  await discovery?.refresh();
  // 0.0.0.0 and :: connect to this very host on Linux (the web tier itself, or loopback-only services).
  t.same(pool.upstreams.map((upstream) => upstream.url), ['http://198.18.0.11:3000'], 'only the unicast address is a member');
});
