import t from 'tap';
import { StoreUnavailableError } from '../../../app-tier/store/types.js';
import { harness, type Harness, type RequestInit } from './fixture.js';

const JSON_HEADERS = { 'content-type': 'application/json' };

function post(h: Harness, value: unknown, headers: Record<string, string> = {}) {
  return h.send('/api/articles/', { method: 'POST', headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(value) });
}

function write(method: string, value: unknown, headers: Record<string, string> = {}): RequestInit {
  return { method, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(value) };
}

t.test('CRUD: 201 + Location, 200, PUT 200, PATCH 200, DELETE 204, then 404', async (t) => {
  const h = harness(t);
  const created = await post(h, { title: 'Hello, Wörld!', body: 'First.', published: '2003-05-17T10:00:00Z' });
  t.equal(created.status, 201);
  const article = created.json();
  t.equal(created.header('location'), `/api/articles/${article.id}/`);
  t.match(article, { title: 'Hello, Wörld!', slug: 'hello-world', body: 'First.', published: '2003-05-17T10:00:00.000Z' });
  t.type(article.createdAt, 'string');

  const read = await h.send(`/api/articles/${article.id}/`);
  t.equal(read.status, 200);
  t.same(read.json(), article);
  t.equal(read.header('content-type'), 'application/json');

  const head = await h.send(`/api/articles/${article.id}/`, { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(head.text, '');
  t.equal(head.header('content-length'), read.header('content-length'));

  const replaced = await h.send(`/api/articles/${article.id}/`, write('PUT', { title: 'Replaced', body: 'New body', published: '2003-05-18' }));
  t.equal(replaced.status, 200);
  t.match(replaced.json(), { id: article.id, title: 'Replaced', slug: 'replaced', body: 'New body', published: '2003-05-18T00:00:00.000Z' });

  const patched = await h.send(`/api/articles/${article.id}/`, write('PATCH', { body: 'Patched body' }));
  t.equal(patched.status, 200);
  t.match(patched.json(), { title: 'Replaced', slug: 'replaced', body: 'Patched body' });

  const deleted = await h.send(`/api/articles/${article.id}/`, { method: 'DELETE' });
  t.equal(deleted.status, 204);
  t.equal(deleted.text, '');
  t.equal(deleted.header('content-length'), undefined, 'RFC 9110 §8.6: no Content-Length in a 204');

  const gone = await h.send(`/api/articles/${article.id}/`);
  t.equal(gone.status, 404);
  t.match(gone.json(), { error: { status: 404, code: 'APP_ERR_NOT_FOUND', requestId: 'req-test-1' } });
  t.equal((await h.send(`/api/articles/${article.id}/`, { method: 'DELETE' })).status, 404);
  t.equal((await h.send(`/api/articles/${article.id}/`, write('PUT', { title: 'x', body: '' }))).status, 404);
  t.equal((await h.send(`/api/articles/${article.id}/`, write('PATCH', { body: 'x' }))).status, 404);
});

t.test('PUT with read-only fields echoed back from a GET is accepted', async (t) => {
  const h = harness(t);
  const article = (await post(h, { title: 'Round trip', body: 'b' })).json();
  const res = await h.send(`/api/articles/${article.id}/`, write('PUT', { ...article, title: 'Round trip 2' }));
  t.equal(res.status, 200);
  t.equal(res.json().slug, 'round-trip');
});

t.test('list: newest first, limit and offset with bounds', async (t) => {
  const h = harness(t);
  for (const day of ['01', '03', '02']) await post(h, { title: `Day ${day}`, body: '', published: `2020-01-${day}` });
  const all = await h.send('/api/articles/');
  t.equal(all.status, 200);
  t.same(all.json().articles.map((a: { title: string }) => a.title), ['Day 03', 'Day 02', 'Day 01']);
  t.match(all.json(), { total: 3, limit: 20, offset: 0 });
  const page = (await h.send('/api/articles/?limit=1&offset=1')).json();
  t.same(page.articles.map((a: { title: string }) => a.title), ['Day 02']);
  t.match(page, { total: 3, limit: 1, offset: 1 });
  for (const query of ['limit=0', 'limit=101', 'limit=abc', 'offset=-1', 'limit=1.5', 'offset=100001']) {
    const res = await h.send(`/api/articles/?${query}`);
    t.equal(res.status, 400, query);
    t.equal(res.json().error.code, 'APP_ERR_VALIDATION');
    t.equal(res.json().error.field, query.split('=')[0]);
  }
  t.equal((await h.send('/api/articles/?limit=100')).status, 200);
  t.equal((await h.send('/api/articles/', { method: 'HEAD' })).text, '');
});

t.test('validation errors: 400 with { error: { code, message, field } }', async (t) => {
  const h = harness(t);
  const cases: [unknown, string][] = [
    [{ body: 'no title' }, 'title'],
    [{ title: '', body: '' }, 'title'],
    [{ title: '   ', body: '' }, 'title'],
    [{ title: 'x'.repeat(201), body: '' }, 'title'],
    [{ title: 42, body: '' }, 'title'],
    [{ title: 'ok' }, 'body'],
    [{ title: 'ok', body: 7 }, 'body'],
    [{ title: 'ok', body: '', slug: 'not a slug' }, 'slug'],
    [{ title: 'ok', body: '', published: 'yesterday' }, 'published'],
    [{ title: 'ok', body: '', published: '2003-02-30' }, 'published'],
    [{ title: 'ok', body: '', published: '2003-05-17T10:00:00' }, 'published'],
    [{ title: 'ok', body: '', colour: 'red' }, 'colour'],
  ];
  for (const [value, field] of cases) {
    const res = await post(h, value);
    t.equal(res.status, 400, JSON.stringify(value));
    const { error } = res.json();
    t.equal(error.code, 'APP_ERR_VALIDATION');
    t.equal(error.field, field);
    t.type(error.message, 'string');
  }
  t.equal((await post(h, { title: 'x'.repeat(200), body: '' })).status, 201, '200 characters is fine');
  t.equal((await post(h, { title: '😀'.repeat(200), body: '' })).status, 201, 'characters, not UTF-16 units');
  const notObject = await post(h, ['title']);
  t.equal(notObject.status, 400);
  t.equal(notObject.json().error.code, 'APP_ERR_VALIDATION');
  const patchEmpty = await h.send('/api/articles/1/', write('PATCH', { title: '' }));
  t.equal(patchEmpty.json().error.field, 'title');
});

t.test('slug: derived from the title with a free suffix; an explicit slug taken in that month → 400 on slug', async (t) => {
  const h = harness(t);
  t.equal((await post(h, { title: 'Same', body: '', published: '2003-05-01' })).json().slug, 'same');
  t.equal((await post(h, { title: 'Same', body: '', published: '2003-05-20' })).json().slug, 'same-2', 'derived slugs never clash');
  const clash = await post(h, { title: 'Other', slug: 'same', body: '', published: '2003-05-20' });
  t.equal(clash.status, 400);
  t.match(clash.json(), { error: { code: 'APP_ERR_VALIDATION', field: 'slug' } });
  const june = await post(h, { title: 'Other', slug: 'same', body: '', published: '2003-06-01' });
  t.equal(june.status, 201, 'another month is fine');
  const patchClash = await h.send(`/api/articles/${june.json().id}/`, write('PATCH', { published: '2003-05-02' }));
  t.equal(patchClash.status, 400, 'moving into a month where the slug is taken');
  t.equal(patchClash.json().error.field, 'slug');
  const putClash = await h.send(`/api/articles/${june.json().id}/`, write('PUT', { title: 'x', slug: 'same-2', body: '', published: '2003-05-03' }));
  t.equal(putClash.status, 400);
  t.equal((await post(h, { title: '日本語', body: '' })).json().slug, 'article', 'a title without ASCII letters still gets a slug');
});

t.test('malformed JSON → 400; a body that is not JSON → 415', async (t) => {
  const h = harness(t);
  const bad = await h.send('/api/articles/', { method: 'POST', headers: JSON_HEADERS, body: '{"title": ' });
  t.equal(bad.status, 400);
  t.equal(bad.json().error.code, 'APP_ERR_BAD_REQUEST');
  const empty = await h.send('/api/articles/', { method: 'POST', headers: JSON_HEADERS });
  t.equal(empty.status, 400);
  for (const headers of [{ 'content-type': 'text/plain' }, {}, { 'content-type': 'application/x-www-form-urlencoded' }, { 'content-type': 'application/json; charset=latin1' }] as Record<string, string>[]) {
    const res = await h.send('/api/articles/', { method: 'POST', headers, body: '{"title":"x","body":""}' });
    t.equal(res.status, 415, JSON.stringify(headers));
    t.equal(res.json().error.code, 'APP_ERR_UNSUPPORTED_MEDIA_TYPE');
  }
  const article = (await post(h, { title: 'x', body: '' })).json();
  t.equal((await h.send(`/api/articles/${article.id}/`, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'x' })).status, 415);
  t.equal((await h.send(`/api/articles/${article.id}/`, { method: 'PATCH', headers: { 'content-type': 'text/plain' }, body: 'x' })).status, 415);
  const vendor = await h.send('/api/articles/', { method: 'POST', headers: { 'content-type': 'application/merge-patch+json; charset=UTF-8' }, body: '{"title":"y","body":""}' });
  t.equal(vendor.status, 201, '+json types and an explicit UTF-8 charset are JSON');
});

t.test('APP_TOKEN: writes need Authorization: Bearer, reads do not', async (t) => {
  const h = harness(t, { appToken: 's3cret' });
  const none = await post(h, { title: 'x', body: '' });
  t.equal(none.status, 401);
  t.equal(none.header('www-authenticate'), 'Bearer realm="twotier"');
  t.equal(none.json().error.code, 'APP_ERR_UNAUTHORIZED');
  const wrong = await post(h, { title: 'x', body: '' }, { authorization: 'Bearer nope' });
  t.equal(wrong.status, 401);
  t.match(wrong.header('www-authenticate'), /^Bearer realm="twotier", error="invalid_token"$/);
  t.equal((await post(h, { title: 'x', body: '' }, { authorization: 'Basic czNjcmV0' })).status, 401);
  const ok = await post(h, { title: 'x', body: '' }, { authorization: 'bearer s3cret' });
  t.equal(ok.status, 201, 'the scheme is case-insensitive');
  const id = ok.json().id;
  t.equal((await h.send('/api/articles/')).status, 200);
  t.equal((await h.send(`/api/articles/${id}/`)).status, 200);
  t.equal((await h.send(`/api/articles/${id}/`, write('PUT', { title: 'y', body: '' }))).status, 401);
  t.equal((await h.send(`/api/articles/${id}/`, write('PATCH', { title: 'y' }))).status, 401);
  t.equal((await h.send(`/api/articles/${id}/`, { method: 'DELETE' })).status, 401);
  t.equal((await h.send(`/api/articles/${id}/`, { method: 'DELETE', headers: { authorization: 'Bearer s3cret' } })).status, 204);
  const unauthenticatedJunk = await h.send('/api/articles/', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' });
  t.equal(unauthenticatedJunk.status, 401, 'authentication is checked before the body');
});

t.test('router answers for the API: 405 + Allow, OPTIONS, 308 slash redirect, 404 for a non-integer id', async (t) => {
  const h = harness(t);
  const wrong = await h.send('/api/articles/', { method: 'DELETE' });
  t.equal(wrong.status, 405);
  t.equal(wrong.header('allow'), 'GET, HEAD, POST, OPTIONS');
  t.equal(wrong.json().error.code, 'APP_ERR_METHOD_NOT_ALLOWED');
  const options = await h.send('/api/articles/1/', { method: 'OPTIONS' });
  t.equal(options.status, 204);
  t.equal(options.header('allow'), 'GET, HEAD, PUT, PATCH, DELETE, OPTIONS');
  t.equal(options.text, '');
  const slash = await h.send('/api/articles?limit=1', { method: 'POST', headers: JSON_HEADERS, body: '{}' });
  t.equal(slash.status, 308);
  t.equal(slash.header('location'), '/api/articles/?limit=1');
  t.equal((await h.send('/api/articles?limit=1')).status, 301);
  t.equal((await h.send('/api/articles/abc/')).status, 404);
  t.equal((await h.send('/api/articles/%zz/')).status, 400);
  t.equal((await h.send('/api/articles/%zz/')).json().error.code, 'APP_ERR_BAD_REQUEST');
});

t.test('store unavailable → 503 with Retry-After, logged once as a warning', async (t) => {
  const h = harness(t);
  h.store.failWith = new StoreUnavailableError('database is locked');
  const res = await h.send('/api/articles/');
  t.equal(res.status, 503);
  t.equal(res.header('retry-after'), '5');
  t.match(res.json(), { error: { code: 'APP_ERR_STORE_UNAVAILABLE', requestId: 'req-test-1' } });
  t.equal(h.logs.filter((line) => line['level'] === 40 && line['reqId'] === 'req-test-1').length, 1);
  h.store.failWith = undefined;
  t.equal((await h.send('/api/articles/')).status, 200, 'serves again once the store is back');
});
