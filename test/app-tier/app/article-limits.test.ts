/**
 * Issue 12.6, read amplification, at the application: lists are summaries (no body, a bounded
 * excerpt, the URL of the whole article), archive pages never read a body, an article body has
 * a maximum (400 naming `body`, API and form alike), and a request body over the app's own
 * limit is 413 before anything parses it.
 */
import t from 'tap';
import { loadConfig } from '../../../app-tier/config.js';
import { DEFAULT_MAX_REQUEST_BODY_BYTES } from '../../../app-tier/app/request-body.js';
import { DEFAULT_MAX_ARTICLE_BODY_BYTES } from '../../../app-tier/app/validation.js';
import { EXCERPT_CHARACTERS } from '../../../app-tier/store/types.js';
import { harness, type Harness } from './fixture.js';

const JSON_HEADERS = { 'content-type': 'application/json' };

function post(h: Harness, value: unknown) {
  return h.send('/api/articles/', { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(value) });
}

t.test('list items are summaries: every field but body, a bounded excerpt and the article URL', async (t) => {
  const long = `${'😀'.repeat(150)}${'x'.repeat(100_000)}`;
  const h = harness(t, { articles: [{ title: 'Long', body: long, published: '2003-05-17T10:00:00Z' }, { title: 'Short', body: 'Tiny.', published: '2003-05-18T10:00:00Z' }] });
  const list = await h.send('/api/articles/');
  t.equal(list.status, 200);
  const { articles, total, limit, offset } = list.json();
  t.same({ total, limit, offset }, { total: 2, limit: 20, offset: 0 }, 'the list shape is kept');
  const [short, longItem] = articles;
  t.same(Object.keys(short).sort(), ['createdAt', 'excerpt', 'id', 'published', 'slug', 'title', 'updatedAt', 'url']);
  t.match(short, { title: 'Short', excerpt: 'Tiny.', url: `/api/articles/${short.id}/` });
  t.equal([...longItem.excerpt].length, EXCERPT_CHARACTERS, 'the excerpt is cut at EXCERPT_CHARACTERS code points');
  t.equal(longItem.excerpt, `${'😀'.repeat(150)}${'x'.repeat(50)}`, 'never inside a surrogate pair');
  t.ok(list.text.length < 2_000, `the list does not grow with the bodies (${list.text.length} characters)`);

  const whole = await h.send(longItem.url);
  t.equal(whole.status, 200);
  t.equal(whole.json().body, long, 'the url reads the article whole');
});

t.test('archive pages never read a body', async (t) => {
  const h = harness(t, { articles: [{ title: 'One', slug: 'one', body: 'SECRET-BODY', published: '2003-05-17T10:00:00Z' }] });
  // Record what the pages get from the store: lists of heads or summaries, no whole article.
  const store = h.store as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const seen: { method: string; bodies: number }[] = [];
  for (const method of ['listArticles', 'listArticlesByDate', 'getArticle', 'getArticleBySlug']) {
    const original = store[method]!.bind(h.store);
    store[method] = async (...args) => {
      const result = await original(...args);
      const rows = Array.isArray(result) ? result : [result];
      seen.push({ method, bodies: rows.filter((row) => row !== null && typeof row === 'object' && 'body' in row).length });
      return result;
    };
  }
  for (const path of ['/articles/', '/articles/2003/', '/articles/2003/05/']) {
    const page = await h.send(path);
    t.equal(page.status, 200, path);
    t.match(page.text, /href="\/articles\/2003\/05\/one\/"/, `${path} links the article`);
    t.notMatch(page.text, /SECRET-BODY/, `${path} shows no body`);
  }
  t.same(seen.map((call) => call.method).sort(), ['listArticles', 'listArticlesByDate', 'listArticlesByDate'], 'list queries only');
  t.same(seen.filter((call) => call.bodies > 0), [], 'no body was loaded');
});

t.test('an article body has a maximum: 400 naming body, for POST, PUT and PATCH', async (t) => {
  const h = harness(t);
  t.equal(DEFAULT_MAX_ARTICLE_BODY_BYTES, 64 * 1024, 'the documented default');
  const atMax = await post(h, { title: 'At the maximum', body: 'x'.repeat(DEFAULT_MAX_ARTICLE_BODY_BYTES) });
  t.equal(atMax.status, 201, 'exactly the maximum is accepted');
  const id = atMax.json().id as number;
  const over = 'x'.repeat(DEFAULT_MAX_ARTICLE_BODY_BYTES + 1);
  const cases = [
    await post(h, { title: 'Over', body: over }),
    // Counted in bytes of UTF-8: 3 bytes each, so a third of the maximum in characters is over.
    await post(h, { title: 'Over in bytes', body: '€'.repeat(Math.floor(DEFAULT_MAX_ARTICLE_BODY_BYTES / 3) + 1) }),
    await h.send(`/api/articles/${id}/`, { method: 'PUT', headers: JSON_HEADERS, body: JSON.stringify({ title: 'Put', body: over }) }),
    await h.send(`/api/articles/${id}/`, { method: 'PATCH', headers: JSON_HEADERS, body: JSON.stringify({ body: over }) }),
  ];
  for (const res of cases) {
    t.equal(res.status, 400);
    t.match(res.json(), { error: { status: 400, code: 'APP_ERR_VALIDATION', field: 'body', message: /at most 65536 bytes/ } });
  }
  t.equal(await h.store.countArticles(), 1, 'nothing over the maximum was stored');
  t.equal(((await h.store.getArticle(id))?.body ?? '').length, DEFAULT_MAX_ARTICLE_BODY_BYTES, 'nor changed');
});

t.test('the maximum is configurable (maxArticleBodyBytes / APP_MAX_ARTICLE_BODY_BYTES)', async (t) => {
  const h = harness(t, { maxArticleBodyBytes: 10 });
  t.equal((await post(h, { title: 'ten', body: '0123456789' })).status, 201);
  t.match((await post(h, { title: 'eleven', body: '0123456789a' })).json(), { error: { field: 'body' } });

  const config = loadConfig(undefined, { APP_MAX_ARTICLE_BODY_BYTES: '1000', APP_MAX_REQUEST_BODY_BYTES: '5000' });
  t.equal(config.maxArticleBodyBytes, 1000);
  t.equal(config.maxRequestBodyBytes, 5000);
  const defaults = loadConfig(undefined, {});
  t.same([defaults.maxArticleBodyBytes, defaults.maxRequestBodyBytes], [DEFAULT_MAX_ARTICLE_BODY_BYTES, DEFAULT_MAX_REQUEST_BODY_BYTES]);
  t.throws(() => loadConfig(undefined, { APP_MAX_ARTICLE_BODY_BYTES: '0' }), { code: 'CONFIG_INVALID', message: /APP_MAX_ARTICLE_BODY_BYTES/ });
  t.throws(() => loadConfig(undefined, { APP_MAX_ARTICLE_BODY_BYTES: '2000', APP_MAX_REQUEST_BODY_BYTES: '1000' }), { message: /APP_MAX_REQUEST_BODY_BYTES: must be at least maxArticleBodyBytes/ });
});

t.test('the HTML form gets the same rule: 400 with the form error on body', async (t) => {
  const h = harness(t, { maxArticleBodyBytes: 10 });
  const form = await h.send('/articles/new/');
  const cookie = /csrftoken=([^;]+)/.exec(form.header('set-cookie') ?? '')?.[1] ?? '';
  const token = /name="csrf_token" value="([^"]+)"/.exec(form.text)?.[1] ?? '';
  const submit = (body: string) =>
    h.send('/articles/', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `csrftoken=${cookie}` },
      body: new URLSearchParams({ csrf_token: token, title: 'Form', published: '2003-05-17', body }).toString(),
    });
  const over = await submit('0123456789a');
  t.equal(over.status, 400);
  t.match(over.text, /body must be at most 10 bytes/);
  t.equal(await h.store.countArticles(), 0);
  t.equal((await submit('0123456789')).status, 303, 'at the maximum it is created');
});

t.test('a request body over maxRequestBodyBytes is 413 before anything parses it', async (t) => {
  const h = harness(t, { maxRequestBodyBytes: 100, maxArticleBodyBytes: 50 });
  const big = JSON.stringify({ title: 'x', body: 'y'.repeat(200) });
  const api = await h.send('/api/articles/', { method: 'POST', headers: JSON_HEADERS, body: big });
  t.equal(api.status, 413);
  t.match(api.json(), { error: { status: 413, code: 'APP_ERR_BODY_TOO_LARGE' } });
  const notJson = await h.send('/api/articles/', { method: 'POST', headers: JSON_HEADERS, body: '{'.repeat(101) });
  t.equal(notJson.status, 413, 'refused before JSON.parse');
  const page = await h.send('/articles/', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a'.repeat(101) });
  t.equal(page.status, 413);
  t.match(page.text, /Content Too Large/);
  t.equal((await post(h, { title: 'small', body: 'fits' })).status, 201, 'a body within the limit is served');

  const defaults = harness(t);
  const withinDefault = await defaults.send('/api/articles/', { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ title: 'x', body: '\u0001'.repeat(DEFAULT_MAX_ARTICLE_BODY_BYTES) }) });
  t.equal(withinDefault.status, 201, 'a maximal body fits the default request limit even when JSON escapes every byte');
});
