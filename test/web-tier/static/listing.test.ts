import t from 'tap';
import { join } from 'node:path';
import { readListing, renderListingHtml, renderListingJson } from '../../../web-tier/static/listing.js';
import { createResolver } from '../../../web-tier/static/resolve.js';
import { writeFileSync } from 'node:fs';
import { makeFixtureRoot } from './helpers.js';

t.test('reads a folder through the resolver: no dotfiles, no escaping links', async (t) => {
  const { root } = makeFixtureRoot(t);
  const resolver = createResolver({ root, followOutsideSymlinks: false, statTtlMs: 0, maxEntries: 100 });
  const listing = await readListing({ dirPath: root, urlPath: '/', lookupChild: (name) => resolver.lookup([name]), maxEntries: 100 });
  const names = listing.entries.map((entry) => entry.name);
  t.ok(names.includes('hello.txt'));
  t.ok(names.includes('with space.txt'));
  t.ok(names.includes('inside-link.txt'));
  for (const hidden of ['.env', '.git', '.well-known', 'escape.txt', 'escape-dir', 'env-link']) t.notOk(names.includes(hidden), hidden);
  t.same(names, [...names].sort(), 'sorted');
  t.equal(listing.truncated, false);
  const docs = listing.entries.find((entry) => entry.name === 'docs');
  t.same(docs, { name: 'docs', type: 'directory', size: 0, modified: '' });

  const cut = await readListing({ dirPath: root, urlPath: '/', lookupChild: (name) => resolver.lookup([name]), maxEntries: 2 });
  t.equal(cut.entries.length, 2);
  t.equal(cut.truncated, true);
});

t.test('HTML escapes names and links them relatively; JSON is the same data', async (t) => {
  const { root } = makeFixtureRoot(t);
  writeFileSync(join(root, 'files', '<b>&"x".txt'), 'x');
  writeFileSync(join(root, 'files', 'a:b.txt'), 'x');
  const resolver = createResolver({ root, followOutsideSymlinks: false, statTtlMs: 0, maxEntries: 100 });
  const listing = await readListing({ dirPath: join(root, 'files'), urlPath: '/files/', lookupChild: (name) => resolver.lookup(['files', name]), maxEntries: 100 });
  const html = renderListingHtml(listing);
  t.match(html, /Directory listing for \/files\//);
  t.match(html, /<a href="\.\.\/">/, 'parent link');
  t.match(html, /href="\.\/%3Cb%3E&#38;%22x%22\.txt">&#60;b&#62;&#38;&#34;x&#34;.txt</);
  t.match(html, /href="\.\/a:b\.txt"/, '"./" keeps a colon from reading as a scheme');
  t.notMatch(html, /<b>/);
  const json = JSON.parse(renderListingJson(listing)) as { path: string; entries: { name: string }[] };
  t.equal(json.path, '/files/');
  t.same(json.entries.map((entry) => entry.name), listing.entries.map((entry) => entry.name));
  t.notMatch(renderListingHtml({ path: '/', entries: [], truncated: false }), /\.\.\//, 'no parent above the root');
});
