import t from 'tap';
import { ConnectionCounts, normalizePeer, PEER_LIMIT_DEFAULTS, rateClient, RateTable } from '../../web-tier/peer-limits.js';

function clock(start = 1_000): { now: () => number; advance: (ms: number) => void } {
  let at = start;
  return { now: () => at, advance: (ms) => (at += ms) };
}

const RATE = { ratePerSec: 2, rateBurst: 3, maxRateEntries: 100 };

t.test('token bucket: a burst, then one request per 1/rate seconds; the wait is exact', async (t) => {
  const time = clock();
  const table = new RateTable(RATE, time.now);
  t.same([table.take('a'), table.take('a'), table.take('a')], [0, 0, 0], 'burst of 3');
  t.equal(table.take('a'), 500, 'empty: the next token in 1/2 s');
  time.advance(200);
  t.equal(table.take('a'), 300, 'a refused request takes nothing: 300 ms left');
  time.advance(300);
  t.equal(table.take('a'), 0, 'one token refilled');
  t.equal(table.take('a'), 500);
  time.advance(60_000);
  t.same([table.take('a'), table.take('a'), table.take('a'), table.take('a')], [0, 0, 0, 500], 'refills up to the burst, never beyond');
  t.equal(table.take('b'), 0, 'another client has its own bucket');
});

t.test('token bucket: rate 0 is off and keeps nothing; a clock that steps back refills nothing', async (t) => {
  const time = clock();
  const off = new RateTable({ ...RATE, ratePerSec: 0 }, time.now);
  for (let index = 0; index < 1_000; index += 1) t.equal(off.take('a'), 0);
  t.equal(off.size, 0);
  const table = new RateTable({ ...RATE, rateBurst: 1 }, time.now);
  t.equal(table.take('a'), 0);
  time.advance(-10_000);
  t.equal(table.take('a'), 500);
});

t.test('token bucket: configure applies a new burst on next use, and off clears the table', async (t) => {
  const time = clock();
  const table = new RateTable({ ...RATE, rateBurst: 10 }, time.now);
  table.take('a');
  table.configure({ ...RATE, rateBurst: 2 });
  t.same([table.take('a'), table.take('a'), table.take('a')], [0, 0, 500], 'capped at the new burst of 2');
  table.configure({ ...RATE, ratePerSec: 0 });
  t.equal(table.size, 0);
});

t.test('rate table eviction: never more than maxRateEntries; recently seen clients keep their bucket; only partly empty drops count', async (t) => {
  const time = clock();
  const table = new RateTable({ ratePerSec: 1, rateBurst: 2, maxRateEntries: 4 }, time.now);
  for (const client of ['a', 'b']) table.take(client);
  t.equal(table.take('a'), 0, 'a has used its burst of 2');
  t.equal(table.take('a'), 1000, 'a is empty');
  for (const client of ['c', 'd']) table.take(client);
  t.equal(table.size, 4);
  t.equal(table.take('a'), 1000, 'a, seen again, is kept (moved to the current generation)');
  for (const client of ['e', 'f', 'g']) table.take(client);
  t.ok(table.size <= 4, `never more than 4 (${table.size})`);
  t.equal(table.take('a'), 1000, 'a, still recently seen, keeps its empty bucket');
  t.ok(table.evicted >= 1, 'the partly empty buckets of clients not seen again were dropped and counted');
  t.same([table.take('b'), table.take('b')], [0, 0], 'b, forgotten, starts over with a full bucket');

  const idle = new RateTable({ ratePerSec: 1, rateBurst: 2, maxRateEntries: 2 }, time.now);
  idle.take('x');
  time.advance(5_000);
  idle.take('y');
  idle.take('z');
  t.equal(idle.evicted, 0, 'a refilled bucket dropped is not counted: it was the same as none');
});

t.test('rate table under a flood of distinct addresses stays bounded', async (t) => {
  const time = clock();
  const table = new RateTable({ ratePerSec: 1, rateBurst: 5, maxRateEntries: PEER_LIMIT_DEFAULTS.maxRateEntries }, time.now);
  for (let index = 0; index < 200_000; index += 1) {
    table.take(`10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`);
    if (index % 1000 === 0) time.advance(1);
  }
  t.equal(table.size, PEER_LIMIT_DEFAULTS.maxRateEntries);
  t.equal(table.evicted, 200_000 - PEER_LIMIT_DEFAULTS.maxRateEntries);
});

t.test('connection counts: a cap per peer, 0 = none, one "first refusal" per episode, entries gone at 0', async (t) => {
  const counts = new ConnectionCounts();
  t.same([counts.admit('a', 2), counts.admit('a', 2), counts.admit('a', 2), counts.admit('a', 2)], ['admitted', 'admitted', 'first-refusal', 'refused']);
  t.equal(counts.admit('b', 2), 'admitted', 'another peer is counted apart');
  t.equal(counts.openOf('a'), 2, 'refused connections are not counted');
  t.equal(counts.total, 3);
  t.same(counts.busiest(), { address: 'a', connections: 2 });
  counts.release('a');
  t.equal(counts.admit('a', 2), 'admitted', 'a place freed');
  counts.release('a');
  counts.release('a');
  counts.release('b');
  t.equal(counts.size, 0, 'no entry without an open connection');
  t.equal(counts.total, 0);
  t.equal(counts.busiest(), undefined);
  t.same([counts.admit('a', 1), counts.admit('a', 1)], ['admitted', 'first-refusal'], 'a new episode logs again');
  counts.release('zzz');
  t.equal(counts.total, 1, 'releasing an unknown peer changes nothing');
  for (let index = 0; index < 500; index += 1) t.equal(counts.admit('c', 0), 'admitted');
});

t.test('normalizePeer: IPv4-mapped IPv6 and case', async (t) => {
  t.equal(normalizePeer('::ffff:10.0.0.1'), '10.0.0.1');
  t.equal(normalizePeer('2001:DB8::1'), '2001:db8::1');
  t.equal(normalizePeer('::ffff:zz'), '::ffff:zz');
});

t.test('rateClient: the peer itself unless it is a trusted proxy; then the last untrusted X-Forwarded-For address', async (t) => {
  const trusted = new Set(['10.0.0.1', '10.0.0.2']);
  t.equal(rateClient('192.0.2.9', '203.0.113.7', trusted), '192.0.2.9', "an untrusted peer's header is ignored");
  t.equal(rateClient('10.0.0.1', undefined, trusted), undefined, "a trusted proxy's own request is exempt");
  t.equal(rateClient('10.0.0.1', '203.0.113.7', trusted), '203.0.113.7');
  t.equal(rateClient('10.0.0.1', '198.51.100.1, 203.0.113.7, 10.0.0.2', trusted), '203.0.113.7', 'trusted hops skipped, the rest (client-written) ignored');
  t.equal(rateClient('10.0.0.1', ['198.51.100.1', '203.0.113.7'], trusted), '203.0.113.7', 'repeated fields are one list');
  t.equal(rateClient('10.0.0.1', '10.0.0.2, 10.0.0.1', trusted), undefined, 'only trusted hops: exempt');
  t.equal(rateClient('10.0.0.1', '203.0.113.7, unknown', trusted), undefined, 'not an address (squid writes "unknown"): exempt, as nginx realip ignores it');
  t.equal(rateClient('10.0.0.1', '203.0.113.7, ', trusted), '203.0.113.7', 'empty elements skipped');
  t.equal(rateClient('10.0.0.1', '203.0.113.7:5123', trusted), '203.0.113.7', 'a port on an IPv4 address');
  t.equal(rateClient('10.0.0.1', '"[2001:DB8::7]:443"', trusted), '2001:db8::7', 'bracketed IPv6 with port, quoted');
  t.equal(rateClient('10.0.0.1', '::ffff:203.0.113.7', trusted), '203.0.113.7', 'IPv4-mapped');
});
