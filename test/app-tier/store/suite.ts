/**
 * The store's behaviour, once, for every backend: sqlite.test.ts and postgres.test.ts each run
 * it with a way to make a fresh, empty database. A backend passes only if it behaves exactly
 * like the others (ids, slugs, ordering, errors).
 */
import type { Test } from 'tap';
import { createLogger } from '../../../common/logger.js';
import { openStore, StoreConflictError, type Store } from '../../../app-tier/store/index.js';
import { SEED_ARTICLES } from '../../../app-tier/store/seed.js';
import { EXCERPT_CHARACTERS } from '../../../app-tier/store/types.js';

export const logger = createLogger({ tier: 'app', level: 'silent' });

export interface StoreBackend {
  /** A DATABASE_URL naming a database nobody has used yet. */
  freshUrl(t: Test, name: string): Promise<string>;
}

async function open(t: Test, url: string, seed = false): Promise<Store> {
  const store = await openStore(url, { logger, seed });
  t.teardown(() => store.close());
  return store;
}

export function storeSuite(t: Test, backend: StoreBackend): void {
  t.test('seeds once, and the data survives reopening', async (t) => {
    const url = await backend.freshUrl(t, 'reopen');
    const first = await openStore(url, { logger });
    t.equal(await first.countArticles(), SEED_ARTICLES.length, 'seeded on first start');
    const created = await first.createArticle({ title: 'Kept', body: 'across restarts' });
    const all = await first.listArticles({ limit: 100, offset: 0 });
    for (const article of all.filter((a) => a.id !== created.id)) await first.deleteArticle(article.id);
    await first.close();
    await first.close();

    const second = await open(t, url, true);
    t.equal(await second.countArticles(), 1, 'no re-seed after the seed articles were deleted');
    t.same(await second.getArticle(created.id), created, 'the write is there after reopening');
  });

  t.test('CRUD', async (t) => {
    const store = await open(t, await backend.freshUrl(t, 'crud'));
    const created = await store.createArticle({ title: 'Héllo, World!', body: 'b', published: '2003-05-17T10:00:00Z' });
    t.match(created, { title: 'Héllo, World!', slug: 'hello-world', body: 'b', published: '2003-05-17T10:00:00.000Z' });
    t.type(created.id, 'number');
    t.match(created.createdAt, /^\d{4}-\d\d-\d\dT/);
    t.same(await store.getArticle(created.id), created);
    t.same(await store.getArticleBySlug(2003, 5, 'hello-world'), created);
    t.equal(await store.getArticleBySlug(2003, 6, 'hello-world'), null);

    const replaced = await store.replaceArticle(created.id, { title: 'New title', body: 'nb', published: '2003-06-01T00:00:00Z' });
    t.match(replaced, { id: created.id, title: 'New title', slug: 'new-title', body: 'nb', published: '2003-06-01T00:00:00.000Z' });
    const patched = await store.patchArticle(created.id, { title: 'Patched' });
    t.match(patched, { title: 'Patched', slug: 'new-title', body: 'nb' }, 'a patched title keeps the slug');
    t.equal(await store.replaceArticle(9999, { title: 'x', body: '' }), null);
    t.equal(await store.patchArticle(9999, { body: '' }), null);

    const now = await store.createArticle({ title: 'Now', body: '' });
    t.ok(Math.abs(Date.parse(now.published) - Date.now()) < 60_000, 'published defaults to now');
    t.same((await store.listArticles({ limit: 10, offset: 0 })).map((a) => a.id), [now.id, created.id], 'newest first');
    t.same((await store.listArticles({ limit: 1, offset: 1 })).map((a) => a.id), [created.id], 'limit and offset');
    t.equal(await store.countArticles(), 2);

    t.equal(await store.deleteArticle(created.id), true);
    t.equal(await store.deleteArticle(created.id), false);
    t.equal(await store.getArticle(created.id), null);
    await t.rejects(store.createArticle({ title: 'x', body: '', published: 'not a date' }), RangeError);
  });

  t.test('slugs are unique per month', async (t) => {
    const store = await open(t, await backend.freshUrl(t, 'slug'));
    const may = { body: '', published: '2003-05-01T00:00:00Z' };
    const a = await store.createArticle({ title: 'Same', slug: 'same', ...may });
    const error = await store.createArticle({ title: 'Other', slug: 'same', ...may }).catch((e: unknown) => e);
    t.type(error, StoreConflictError);
    t.match(error, { code: 'STORE_CONFLICT', field: 'slug' });
    const june = await store.createArticle({ title: 'Same', slug: 'same', body: '', published: '2003-06-01T00:00:00Z' });
    t.equal(june.slug, 'same', 'the same slug in another month is fine');
    const derived = await store.createArticle({ title: 'Same', ...may });
    t.equal(derived.slug, 'same-2', 'a derived slug takes the first free suffix');
    await t.rejects(store.patchArticle(june.id, { published: '2003-05-09T00:00:00Z' }), { code: 'STORE_CONFLICT' }, 'moving into a month where the slug is taken');
    await t.rejects(store.replaceArticle(derived.id, { title: 't', slug: 'same', ...may }), { code: 'STORE_CONFLICT' });
    t.match(await store.replaceArticle(a.id, { title: 'Same', slug: 'same', ...may }), { slug: 'same' }, 'an article does not conflict with itself');
  });

  t.test('concurrent derived slugs from two connections each get their own', async (t) => {
    const url = await backend.freshUrl(t, 'race');
    const one = await open(t, url);
    const two = await open(t, url);
    const may = { title: 'Race', body: '', published: '2003-05-01T00:00:00Z' };
    const made = await Promise.all([one.createArticle(may), two.createArticle(may), one.createArticle(may), two.createArticle(may)]);
    t.same(made.map((a) => a.slug).sort(), ['race', 'race-2', 'race-3', 'race-4']);
  });

  t.test('archive and listing by date', async (t) => {
    const store = await open(t, await backend.freshUrl(t, 'archive'));
    for (const published of ['2003-05-01T00:00:00Z', '2003-05-20T00:00:00Z', '2003-07-04T00:00:00Z', '2004-01-08T00:00:00Z']) {
      await store.createArticle({ title: `On ${published}`, body: '', published });
    }
    t.same(await store.archive(), [{ year: 2004, month: 1, count: 1 }, { year: 2003, month: 7, count: 1 }, { year: 2003, month: 5, count: 2 }]);
    t.same((await store.listArticlesByDate(2003)).map((a) => a.published.slice(0, 10)), ['2003-07-04', '2003-05-20', '2003-05-01']);
    t.same((await store.listArticlesByDate(2003, 5)).map((a) => a.published.slice(0, 10)), ['2003-05-20', '2003-05-01']);
    t.same(await store.listArticlesByDate(1999), []);
  });

  t.test('lists never load a body: summaries with a bounded excerpt, heads by date', async (t) => {
    const store = await open(t, await backend.freshUrl(t, 'summaries'));
    // Multi-byte characters first: the excerpt is cut in characters, never inside one.
    const body = `${'é😀'.repeat(60)}${'x'.repeat(200_000)}`;
    const large = await store.createArticle({ title: 'Large', body, published: '2003-05-01T00:00:00Z' });
    const small = await store.createArticle({ title: 'Small', body: 'Tiny.', published: '2003-05-02T00:00:00Z' });
    const { body: _largeBody, ...largeHead } = large;
    const { body: _smallBody, ...smallHead } = small;
    t.same(await store.listArticles({ limit: 10, offset: 0 }), [
      { ...smallHead, excerpt: 'Tiny.' },
      { ...largeHead, excerpt: `${'é😀'.repeat(60)}${'x'.repeat(EXCERPT_CHARACTERS - 120)}` },
    ], 'every field but body, and the first EXCERPT_CHARACTERS characters');
    for (const summary of await store.listArticles({ limit: 10, offset: 0 })) t.notOk('body' in summary, 'no body in a list item');
    t.same(await store.listArticlesByDate(2003), [smallHead, largeHead], 'by year: heads');
    t.same(await store.listArticlesByDate(2003, 5), [smallHead, largeHead], 'by month: heads');
    t.equal((await store.getArticle(large.id))?.body, body, 'the whole body is read by id');
  });

  t.test('settings are created once and kept', async (t) => {
    const url = await backend.freshUrl(t, 'settings');
    const store = await open(t, url);
    let calls = 0;
    const make = (): string => `secret-${(calls += 1)}`;
    t.equal(await store.getOrCreateSetting('csrf-secret', make), 'secret-1');
    t.equal(await store.getOrCreateSetting('csrf-secret', make), 'secret-1');
    t.equal(calls, 1);
    const other = await open(t, url);
    t.equal(await other.getOrCreateSetting('csrf-secret', make), 'secret-1', 'another connection sees the same value');
  });

  t.test('a closed store rejects with STORE_UNAVAILABLE', async (t) => {
    const store = await openStore(await backend.freshUrl(t, 'closed'), { logger });
    t.equal(await store.countArticles(), SEED_ARTICLES.length);
    await store.close();
    await t.rejects(store.countArticles(), { code: 'STORE_UNAVAILABLE' });
    await t.rejects(store.createArticle({ title: 'x', body: '' }), { code: 'STORE_UNAVAILABLE' });
  });

  t.test('jobs: created, claimed by one owner at a time, stepped, leases expire; articles read in id order', async (t) => {
    const store = await open(t, await backend.freshUrl(t, 'jobs'));
    const a = await store.createArticle({ title: 'A', body: 'a' });
    const b = await store.createArticle({ title: 'B', body: 'b' });
    t.equal(await store.maxArticleId(), b.id);
    t.same((await store.articlesAfter(0, 10)).map((article) => article.id), [a.id, b.id]);
    t.same(await store.articlesAfter(a.id, 10), [b]);
    const id = '3f2a1c9e-0000-4000-8000-000000000001';
    const created = await store.createJob({ id, kind: 'word-count', total: 2, data: '{"n":0}', nextStepAt: 1_000 });
    t.match(created, { id, state: 'queued', done: 0, steps: 0, nextStepAt: 1_000, leaseOwner: null, leaseUntil: null, result: null, finishedAt: null });
    t.equal(await store.claimJob(id, 'w1', 999, 5_000), null, 'not due yet');
    const claimed = await store.claimJob(id, 'w1', 1_000, 1_700_000_000_000);
    t.match(claimed, { leaseOwner: 'w1', leaseUntil: 1_700_000_000_000 }, 'epoch milliseconds fit');
    t.equal(await store.claimJob(id, 'w2', 1_000, 6_000), null, 'a held lease is not taken');
    t.equal(await store.finishJobStep(id, 'w2', { state: 'running', done: 1, data: '{}', result: null, error: null, nextStepAt: 2_000 }), false, 'only the holder writes');
    t.ok(await store.finishJobStep(id, 'w1', { state: 'running', done: 1, data: '{"n":1}', result: null, error: null, nextStepAt: 2_000 }));
    t.match(await store.getJob(id), { state: 'running', done: 1, data: '{"n":1}', steps: 1, nextStepAt: 2_000, leaseOwner: null, finishedAt: null });
    t.ok(await store.claimJob(id, 'w2', 2_000, 2_500));
    t.ok(await store.claimJob(id, 'w3', 2_501, 9_000), 'an expired lease is taken over');
    t.ok(await store.finishJobStep(id, 'w3', { state: 'done', done: 2, data: '{}', result: '{"ok":true}', error: null, nextStepAt: 3_000 }));
    const done = await store.getJob(id);
    t.match(done, { state: 'done', result: '{"ok":true}', steps: 2 });
    t.type(done?.finishedAt, 'string');
    t.equal(await store.claimJob(id, 'w4', 10_000, 20_000), null, 'a finished job is never claimed');
    t.equal(await store.getJob('3f2a1c9e-0000-4000-8000-000000000002'), null);
  });
}
