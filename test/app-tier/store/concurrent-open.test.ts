import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';

const STORE = fileURLToPath(new URL('../../../dist/app-tier/store/index.js', import.meta.url));
const LOGGER = fileURLToPath(new URL('../../../dist/common/logger.js', import.meta.url));

/** Each process arms, waits for "go" on stdin, then opens the store: all open at once. */
const SCRIPT = `
const { openStore } = await import(${JSON.stringify(pathToFileURL(STORE).href)});
const { createLogger } = await import(${JSON.stringify(pathToFileURL(LOGGER).href)});
process.stdout.write('armed\\n');
process.stdin.once('data', async () => {
  const store = await openStore(process.env.DATABASE_URL, { logger: createLogger({ tier: 'app', level: 'silent' }) });
  const created = await store.createArticle({ title: 'From ' + process.pid, body: '', published: '2003-05-01T00:00:00Z' });
  process.stdout.write(JSON.stringify({ count: await store.countArticles(), slug: created.slug }) + '\\n');
  await store.close();
  process.exit(0);
});
`;

t.test('several processes open, migrate and write one fresh file at the same moment', { skip: existsSync(STORE) ? false : 'dist/ is not built' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-concurrent-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'data', 'shared.db');
  const children = Array.from({ length: 4 }, () =>
    spawn(process.execPath, ['--input-type=module', '-e', SCRIPT], { env: { ...process.env, NODE_OPTIONS: '', DATABASE_URL: `sqlite:${file}` }, stdio: ['pipe', 'pipe', 'pipe'] }),
  );
  t.teardown(() => { for (const child of children) if (child.exitCode === null) child.kill('SIGKILL'); });
  const outputs = children.map((child) => {
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
    return { child, text: () => text, exited: once(child, 'exit') };
  });
  await Promise.all(children.map((child) => once(child.stdout, 'data')));
  for (const child of children) child.stdin.end('go\n');
  const codes = await Promise.all(outputs.map((output) => output.exited.then(([code]) => code as number)));
  t.same(codes, [0, 0, 0, 0], outputs.map((output) => output.text()).join('\n'));
  const slugs = outputs.map((output) => (JSON.parse(output.text().split('\n')[1] ?? '{}') as { slug: string }).slug);
  t.equal(new Set(slugs).size, 4, 'every write kept, each with its own slug');

  const db = new Database(file, { readonly: true });
  t.teardown(() => db.close());
  t.same(db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all(), [1, 2, 3], 'each migration applied once');
  t.equal(db.prepare('SELECT COUNT(*) FROM articles').pluck().get(), 3 + 4, 'seeded once, plus the four writes');
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal');
});
