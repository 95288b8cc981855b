import t from 'tap';
import { get, makeFixtureRoot, startStatic } from './helpers.js';

t.test('onCacheLookup: a miss when a small body is read, a hit once it is held, a miss for every streamed large file', async (t) => {
  const { root } = makeFixtureRoot(t);
  const lookups: boolean[] = [];
  const { port } = await startStatic(t, { root, onCacheLookup: (hit) => lookups.push(hit) });

  t.equal((await get(port, '/hello.txt')).status, 200);
  t.equal((await get(port, '/hello.txt')).status, 200);
  t.same(lookups, [false, true], 'first read from disk, then from memory');

  // Bigger than cacheMaxFileBytes (128 KiB): streamed every time, never held.
  t.equal((await get(port, '/large.bin')).status, 200);
  t.equal((await get(port, '/large.bin')).status, 200);
  t.same(lookups, [false, true, false, false]);

  // No body sent, no lookup: HEAD, 304 and 404 leave the counters alone.
  const etag = (await get(port, '/hello.txt', { method: 'HEAD' })).headers.etag ?? '';
  t.equal((await get(port, '/hello.txt', { headers: { 'If-None-Match': etag } })).status, 304);
  t.equal((await get(port, '/missing.txt')).status, 404);
  t.same(lookups, [false, true, false, false]);
});
