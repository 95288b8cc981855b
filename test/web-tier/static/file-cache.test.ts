import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createFileCache } from '../../../web-tier/static/file-cache.js';
import { createResolver, type FileInfo } from '../../../web-tier/static/resolve.js';
import { makeFixtureRoot } from './helpers.js';

async function fileInfo(root: string, name: string): Promise<FileInfo> {
  const found = await createResolver({ root, followOutsideSymlinks: false, statTtlMs: 0, maxEntries: 10 }).lookup([name]);
  if (found.kind !== 'file') throw new Error(`${name} is not a file`);
  return found.file;
}

t.test('holds small files, refuses big ones, serves only the version it read', async (t) => {
  const { root } = makeFixtureRoot(t);
  const cache = createFileCache({ maxBytes: 1024 * 1024, maxFileBytes: 1024 });
  const hello = await fileInfo(root, 'hello.txt');
  t.equal(cache.get(hello), undefined);
  const pending = cache.load(hello);
  t.equal(cache.load(hello), pending, 'one read for concurrent loads');
  const body = await pending;
  t.equal(body?.toString(), 'Hello, static world.\n');
  t.equal(cache.get(hello), body);
  t.equal(cache.bytes, 21);

  const large = await fileInfo(root, 'large.bin');
  t.equal(cache.accepts(large), false);
  t.equal(await cache.load(large), undefined, 'above maxFileBytes: streamed instead');
  t.equal(cache.size, 1);

  writeFileSync(join(root, 'hello.txt'), 'a new version with another size\n');
  const changed = await fileInfo(root, 'hello.txt');
  t.equal(cache.get(changed), undefined, 'a new version never gets the old bytes');
  t.equal(cache.bytes, 0, 'and the old bytes are dropped');
  t.equal(await cache.load(hello), undefined, 'a read whose size disagrees with the stat is not held');
  cache.clear();
  t.equal(cache.size, 0);
});

t.test('the total stays under maxBytes, least recently used out first', async (t) => {
  const { root } = makeFixtureRoot(t);
  for (const name of ['a', 'b', 'c']) writeFileSync(join(root, `${name}.txt`), name.repeat(400));
  const cache = createFileCache({ maxBytes: 1000, maxFileBytes: 1000 });
  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((name) => fileInfo(root, `${name}.txt`)));
  if (a === undefined || b === undefined || c === undefined) throw new Error('fixtures');
  await cache.load(a);
  await cache.load(b);
  cache.get(a);
  await cache.load(c);
  t.ok(cache.bytes <= 1000);
  t.ok(cache.get(a), 'recently used a kept');
  t.equal(cache.get(b), undefined, 'least recently used b dropped');
  t.ok(cache.get(c));
});
