import t from 'tap';
import { EventEmitter, once } from 'node:events';
import { Writable } from 'node:stream';
import { createLogger } from '../../../common/logger.js';
import { openStore, redactDatabaseUrl } from '../../../app-tier/store/index.js';
import { openPostgresStore } from '../../../app-tier/store/postgres.js';
import { postgresSkipReason, startPostgres, type PostgresCluster } from '../../helpers/postgres.js';
import { logger, storeSuite } from './suite.js';

const skip = postgresSkipReason();

/** A logger whose lines the test can read. */
function sinkLogger(): { logger: ReturnType<typeof createLogger>; lines: Array<Record<string, unknown>>; seen: (msg: string) => Promise<void> } {
  const lines: Array<Record<string, unknown>> = [];
  const events = new EventEmitter();
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line === '') continue;
        const parsed = JSON.parse(line) as Record<string, unknown>;
        lines.push(parsed);
        events.emit(String(parsed['msg']));
      }
      done();
    },
  });
  const seen = (msg: string): Promise<void> => (lines.some((l) => l['msg'] === msg) ? Promise.resolve() : once(events, msg).then(() => undefined));
  return { logger: createLogger({ tier: 'app', level: 'info', destination }), lines, seen };
}

t.test('Postgres store', { skip }, async (t) => {
  const cluster: PostgresCluster = await startPostgres(t);
  let n = 0;

  t.test('the store suite on Postgres', async (t) => {
    storeSuite(t, { freshUrl: (_t, name) => cluster.createDatabase(`${name}_${(n += 1)}`) });
  });

  t.test('several stores migrate one fresh database at once: each migration once, seeded once', async (t) => {
    const url = await cluster.createDatabase('concurrent');
    const stores = await Promise.all(Array.from({ length: 4 }, () => openStore(url, { logger })));
    t.teardown(() => Promise.all(stores.map((store) => store.close())));
    const counts = await Promise.all(stores.map((store) => store.countArticles()));
    t.same(counts, [3, 3, 3, 3], 'the seed went in once');
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    t.teardown(() => client.end());
    t.same((await client.query('SELECT version FROM schema_migrations ORDER BY version')).rows.map((r: { version: number }) => r.version), [1, 2, 3]);
  });

  t.test('down while serving: STORE_UNAVAILABLE, no crash, and back when the server is', async (t) => {
    const { logger: sink } = sinkLogger();
    const store = await openPostgresStore({ url: await cluster.createDatabase('outage'), logger: sink, seed: true });
    t.teardown(() => store.close());
    t.equal(await store.countArticles(), 3);
    await cluster.stop();
    await t.rejects(store.countArticles(), { code: 'STORE_UNAVAILABLE' }, 'a read while the server is down');
    await t.rejects(store.createArticle({ title: 'x', body: '' }), { code: 'STORE_UNAVAILABLE' }, 'a write while the server is down');
    await cluster.start();
    t.equal(await store.countArticles(), 3, 'the pool reconnects once the server is back');
  });

  t.test('down at start: a clear error, retries with back-off, then opens', async (t) => {
    const url = await cluster.createDatabase('late');
    await cluster.stop();
    const { logger: sink, lines, seen } = sinkLogger();
    const opening = openPostgresStore({ url, logger: sink, seed: true, retryDelayMs: 50, maxRetryDelayMs: 200, startTimeoutMs: 60_000 });
    // The first retry line is logged before the first back-off; start the server after it.
    await seen('the database is unreachable at start; retrying');
    await cluster.start();
    const store = await opening;
    t.teardown(() => store.close());
    t.equal(await store.countArticles(), 3);
    const retries = lines.filter((l) => l['msg'] === 'the database is unreachable at start; retrying');
    t.ok(retries.length >= 1, 'each failed attempt is logged');
    t.match(retries[0], { level: 50, attempt: 1, code: 'ENOENT' });
    t.ok(lines.some((l) => l['msg'] === 'database reachable; store ready'));
  });

  t.test('down at start for good: StoreUnavailableError after the budget', async (t) => {
    const url = cluster.url('never').replace(encodeURIComponent(cluster.socketDir), encodeURIComponent(`${cluster.socketDir}/nowhere`));
    const started = Date.now();
    await t.rejects(openPostgresStore({ url, logger, retryDelayMs: 20, maxRetryDelayMs: 40, startTimeoutMs: 300 }), { code: 'STORE_UNAVAILABLE', message: /did not become reachable within/ });
    t.ok(Date.now() - started < 5_000, 'bounded');
  });

  t.test('a non-network error (no such database) stops start-up at once', async (t) => {
    await t.rejects(openPostgresStore({ url: cluster.url('no_such_db'), logger, startTimeoutMs: 60_000 }), { code: '3D000' });
  });
});

t.test('DATABASE_URL with a password is redacted for logs and banners', async (t) => {
  t.equal(redactDatabaseUrl('postgres://twotier:s3cret@10.0.0.5:5432/twotier'), 'postgres://twotier:***@10.0.0.5:5432/twotier');
  t.equal(redactDatabaseUrl('postgres://twotier@db/twotier'), 'postgres://twotier@db/twotier');
  t.equal(redactDatabaseUrl('sqlite:./data/twotier.db'), 'sqlite:./data/twotier.db');
  const error = (await openStore('postgres://u:s3cret@db', { logger }).catch((e: unknown) => e)) as Error;
  t.match(error, { code: 'STORE_BAD_URL' });
  t.notMatch(error.message, /s3cret/, 'the password is not in the error');
});
