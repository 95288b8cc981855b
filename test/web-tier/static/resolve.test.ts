import t from 'tap';
import { mkdirSync, realpathSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createResolver, isInside } from '../../../web-tier/static/resolve.js';
import { makeFixtureRoot } from './helpers.js';

t.test('files, directories, missing paths', async (t) => {
  const { root } = makeFixtureRoot(t);
  const resolver = createResolver({ root, followOutsideSymlinks: false, statTtlMs: 0, maxEntries: 10 });
  t.equal(resolver.root, realpathSync(root));
  const hello = await resolver.lookup(['hello.txt']);
  t.equal(hello.kind, 'file');
  if (hello.kind === 'file') {
    t.equal(hello.file.size, 21);
    t.equal(hello.file.lastModifiedMs % 1000, 0, 'whole seconds');
    t.equal(new Date(hello.file.lastModified).getTime(), hello.file.lastModifiedMs);
    t.match(hello.file.etagCore, /^[0-9a-f]+-[0-9a-f]+-[0-9a-f]+$/);
  }
  t.equal((await resolver.lookup([])).kind, 'directory', 'the root');
  t.equal((await resolver.lookup(['docs'])).kind, 'directory');
  t.equal((await resolver.lookup(['nope'])).kind, 'missing');
  t.equal((await resolver.lookup(['hello.txt', 'x'])).kind, 'missing', 'below a file');
});

t.test('symlinks out of the root (or onto dotfiles) are refused unless allowed', async (t) => {
  const { root } = makeFixtureRoot(t);
  const strict = createResolver({ root, followOutsideSymlinks: false, statTtlMs: 0, maxEntries: 10 });
  t.equal((await strict.lookup(['escape.txt'])).kind, 'outside');
  t.equal((await strict.lookup(['escape-dir'])).kind, 'outside');
  t.equal((await strict.lookup(['escape-dir', 'secret.txt'])).kind, 'outside');
  t.equal((await strict.lookup(['env-link'])).kind, 'outside', 'a link onto .env');
  t.equal((await strict.lookup(['inside-link.txt'])).kind, 'file');
  const lax = createResolver({ root, followOutsideSymlinks: true, statTtlMs: 0, maxEntries: 10 });
  t.equal((await lax.lookup(['escape.txt'])).kind, 'file');
  t.equal((await lax.lookup(['escape-dir', 'secret.txt'])).kind, 'file');
});

t.test('a symlinked root is measured after realpath', async (t) => {
  const { root } = makeFixtureRoot(t);
  const linked = `${root}-link`;
  const { symlinkSync } = await import('node:fs');
  symlinkSync(root, linked);
  t.teardown(() => rmSync(linked, { force: true }));
  const resolver = createResolver({ root: linked, followOutsideSymlinks: false, statTtlMs: 0, maxEntries: 10 });
  t.equal((await resolver.lookup(['hello.txt'])).kind, 'file');
});

t.test('answers are cached for the TTL, shared while in flight, and bounded in number', async (t) => {
  const { root } = makeFixtureRoot(t);
  let clock = 1_000;
  const resolver = createResolver({ root, followOutsideSymlinks: false, statTtlMs: 500, maxEntries: 3, now: () => clock });
  t.equal(resolver.lookup(['hello.txt']), resolver.lookup(['hello.txt']), 'one stat for concurrent lookups');
  const first = await resolver.lookup(['hello.txt']);
  unlinkSync(join(root, 'hello.txt'));
  t.equal(await resolver.lookup(['hello.txt']), first, 'still cached inside the TTL');
  clock += 501;
  t.equal((await resolver.lookup(['hello.txt'])).kind, 'missing', 're-stat after the TTL');

  writeFileSync(join(root, 'new.txt'), 'x');
  t.equal((await resolver.lookup(['new.txt'])).kind, 'file');
  unlinkSync(join(root, 'new.txt'));
  resolver.forget(join(resolver.root, 'new.txt'));
  t.equal((await resolver.lookup(['new.txt'])).kind, 'missing', 'forget drops one path');

  const kept = resolver.lookup(['docs']);
  for (const name of ['a', 'b', 'c', 'd']) await resolver.lookup([name]);
  mkdirSync(join(root, 'gone-soon'));
  t.not(resolver.lookup(['docs']), kept, 'the oldest entry was dropped when more than maxEntries were held');
  resolver.clear();
});

t.test('isInside compares whole path segments', async (t) => {
  t.equal(isInside('/srv/www', '/srv/www'), true);
  t.equal(isInside('/srv/www', '/srv/www/a'), true);
  t.equal(isInside('/srv/www', '/srv/www-evil/a'), false);
  t.equal(isInside('/srv/www', '/srv'), false);
});
