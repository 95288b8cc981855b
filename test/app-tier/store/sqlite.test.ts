import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../../app-tier/store/index.js';
import { logger, storeSuite } from './suite.js';

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('the store suite on SQLite', async (t) => {
  storeSuite(t, { freshUrl: async (t, name) => `sqlite:${join(tempDir(t), `${name}.db`)}` });
});

t.test('creates the data folder on first start', async (t) => {
  const dir = tempDir(t);
  const store = await openStore(`sqlite:${join(dir, 'data', 'nested', 'twotier.db')}`, { logger });
  t.teardown(() => store.close());
  t.ok(existsSync(join(dir, 'data', 'nested', 'twotier.db')), 'missing folders are created');
});

t.test('DATABASE_URL schemes', async (t) => {
  await t.rejects(openStore('mysql://localhost/db', { logger }), { code: 'STORE_BAD_URL', message: /unknown scheme "mysql:"/ });
  await t.rejects(openStore('postgres://localhost', { logger }), { code: 'STORE_BAD_URL', message: /names no database/ });
  await t.rejects(openStore('sqlite:', { logger }), { code: 'STORE_BAD_URL' });
  await t.rejects(openStore('sqlite://host/db', { logger }), { code: 'STORE_BAD_URL' });
  const dir = tempDir(t);
  const store = await openStore(`sqlite://${join(dir, 'url-style.db')}`, { logger, seed: false });
  t.teardown(() => store.close());
  t.equal(await store.countArticles(), 0);
  t.ok(existsSync(join(dir, 'url-style.db')), 'sqlite:///abs/path names /abs/path');
});
