import t from 'tap';
import { createRouter, path, rePath, type Resolution } from '../../../app-tier/router/index.js';

type View = string;

const router = createRouter<View>([
  path('articles/', { GET: 'archive', POST: 'create' }, 'archive'),
  path('articles/<int:year>/', { GET: 'year' }, 'year'),
  path('articles/<int:year>/<int:month>/<slug:slug>/', { GET: 'detail', DELETE: 'delete' }, 'detail'),
  path('tags/<str:tag>/', { GET: 'tag' }, 'tag'),
  path('tags/<name>/edit', { GET: 'tag-edit' }, 'tag-edit'),
  path('files/<path:rest>', { GET: 'files' }, 'files'),
  path('things/<uuid:id>/', { GET: 'thing' }, 'thing'),
  path('100%/', { GET: 'percent' }, 'percent'),
  rePath(/legacy\/(?<year>[0-9]{4})\/(?<code>[a-z]+)\//, { GET: 'legacy', PUT: 'legacy-put' }),
  path('any/', { '*': 'any' }),
]);

function match(method: string, target: string): Extract<Resolution<View>, { kind: 'match' }> {
  const result = router.resolve(method, target);
  if (result.kind !== 'match') throw new Error(`${method} ${target} resolved to ${result.kind}`);
  return result;
}

t.test('int converter gives numbers and rejects non-digits and unsafe integers', async (t) => {
  const result = match('GET', '/articles/2003/');
  t.equal(result.handler, 'year');
  t.same(result.params, { year: 2003 });
  t.equal(typeof result.params['year'], 'number');
  t.same(match('GET', '/articles/2003/05/my-slug/').params, { year: 2003, month: 5, slug: 'my-slug' });
  t.equal(router.resolve('GET', '/articles/20x3/').kind, 'not-found');
  t.equal(router.resolve('GET', '/articles/-1/').kind, 'not-found');
  t.equal(router.resolve('GET', '/articles/99999999999999999999/').kind, 'not-found');
});

t.test('slug converter: letters, digits, hyphen, underscore only', async (t) => {
  t.equal(match('GET', '/articles/2003/05/a_b-9/').params['slug'], 'a_b-9');
  t.equal(router.resolve('GET', '/articles/2003/05/a.b/').kind, 'not-found');
  t.equal(router.resolve('GET', '/articles/2003/05/a%20b/').kind, 'not-found');
});

t.test('str converter: one segment, decoded once, %2F stays inside the segment', async (t) => {
  t.same(match('GET', '/tags/caf%C3%A9/').params, { tag: 'café' });
  t.same(match('GET', '/tags/a%2Fb/').params, { tag: 'a/b' }, '%2F does not create a segment');
  t.equal(router.resolve('GET', '/tags/a/b/').kind, 'not-found', 'a real slash does');
  t.same(match('GET', '/tags/%252F/').params, { tag: '%2F' }, 'decoded exactly once');
  t.same(match('GET', '/tags/x/edit').params, { name: 'x' }, 'the converter defaults to str');
});

t.test('path converter spans segments', async (t) => {
  t.same(match('GET', '/files/a/b/c.txt').params, { rest: 'a/b/c.txt' });
  t.same(match('GET', '/files/a%20b/c').params, { rest: 'a b/c' });
  t.equal(router.resolve('GET', '/files/').kind, 'not-found', 'path needs at least one character');
});

t.test('uuid converter: lower-case canonical form only', async (t) => {
  const id = '0f8fad5b-d9cb-469f-a165-70867728950e';
  t.same(match('GET', `/things/${id}/`).params, { id });
  t.equal(router.resolve('GET', `/things/${id.toUpperCase()}/`).kind, 'not-found');
  t.equal(router.resolve('GET', '/things/0f8fad5b-d9cb-469f-a165/').kind, 'not-found');
});

t.test('literal text is matched decoded; a literal "%" is data', async (t) => {
  t.equal(match('GET', '/%61rticles/').handler, 'archive');
  t.equal(match('GET', '/100%25/').handler, 'percent');
});

t.test('regular-expression routes with named groups match the whole path', async (t) => {
  const result = match('GET', '/legacy/2003/abc/');
  t.equal(result.handler, 'legacy');
  t.same(result.params, { year: '2003', code: 'abc' });
  t.equal(router.resolve('GET', '/legacy/2003/abc/extra').kind, 'not-found');
  t.equal(router.resolve('GET', '/x/legacy/2003/abc/').kind, 'not-found');
  t.equal(router.resolve('DELETE', '/legacy/2003/abc/').kind, 'method-not-allowed');
});

t.test('query and absolute-form targets', async (t) => {
  const result = match('GET', '/articles/2003/?page=2&q=a%20b');
  t.equal(result.search, '?page=2&q=a%20b');
  t.equal(result.rawPath, '/articles/2003/');
  t.same(match('GET', 'http://example.test:8080/articles/2003/?x=1').params, { year: 2003 });
  t.equal(router.resolve('OPTIONS', '*').kind, 'bad-request');
});

t.test('reverse builds paths from names and typed or string values', async (t) => {
  t.equal(router.reverse('archive'), '/articles/');
  t.equal(router.reverse('detail', { year: 2003, month: '05', slug: 'my-slug' }), '/articles/2003/05/my-slug/');
  t.equal(router.reverse('tag', { tag: 'a/b c' }), '/tags/a%2Fb%20c/');
  t.equal(router.reverse('files', { rest: 'a b/c' }), '/files/a%20b/c');
  t.equal(router.reverse('percent'), '/100%25/');
  t.throws(() => router.reverse('nope'), TypeError);
  t.throws(() => router.reverse('year', {}), /needs parameter "year"/);
  t.throws(() => router.reverse('year', { year: -3 }), TypeError);
  t.throws(() => router.reverse('year', { year: 'abc' }), TypeError);
  t.throws(() => router.reverse('detail', { year: 2003, month: 5, slug: 'not a slug' }), TypeError);
  t.throws(() => router.reverse('thing', { id: 'nope' }), TypeError);
  // Round trip: what reverse builds resolves to the same values.
  t.same(match('GET', router.reverse('tag', { tag: 'a/b%c' })).params, { tag: 'a/b%c' });
});

t.test('APPEND_SLASH: 301 for GET and HEAD keeping the query, 308 for other methods', async (t) => {
  t.same(router.resolve('GET', '/articles/2003?x=1&y=%20'), { kind: 'redirect', status: 301, location: '/articles/2003/?x=1&y=%20' });
  t.same(router.resolve('HEAD', '/articles'), { kind: 'redirect', status: 301, location: '/articles/' });
  t.same(router.resolve('POST', '/articles'), { kind: 'redirect', status: 308, location: '/articles/' });
  t.same(router.resolve('DELETE', '/articles/2003/05/x'), { kind: 'redirect', status: 308, location: '/articles/2003/05/x/' });
  t.same(router.resolve('GET', '/tags/a%2Fb'), { kind: 'redirect', status: 301, location: '/tags/a%2Fb/' }, 'the raw path is kept');
  t.equal(router.resolve('GET', '/nothing').kind, 'not-found', 'no redirect when the slash form does not match either');
  t.equal(router.resolve('GET', '//articles').kind, 'not-found', 'never a redirect to //host');
  t.equal(router.resolve('GET', '/\\articles').kind, 'not-found', 'never a redirect to /\\host');
});

t.test('405 with the exact Allow; HEAD wherever GET; OPTIONS answered with Allow', async (t) => {
  t.same(router.resolve('PUT', '/articles/'), { kind: 'method-not-allowed', allow: 'GET, HEAD, POST, OPTIONS' });
  t.same(router.resolve('POST', '/articles/2003/05/x/'), { kind: 'method-not-allowed', allow: 'GET, HEAD, DELETE, OPTIONS' });
  t.same(router.resolve('PUT', '/legacy/2003/abc/'), { kind: 'match', handler: 'legacy-put', params: { year: '2003', code: 'abc' }, routeName: undefined, rawPath: '/legacy/2003/abc/', search: '' });
  t.equal(match('HEAD', '/articles/2003/').handler, 'year', 'HEAD runs the GET view');
  t.same(router.resolve('OPTIONS', '/articles/2003/'), { kind: 'options', allow: 'GET, HEAD, OPTIONS' });
  t.equal(router.resolve('get', '/articles/').kind, 'method-not-allowed', 'methods are case-sensitive (RFC 9110 §9.1)');
});

t.test('a "*" route answers every method itself', async (t) => {
  for (const method of ['GET', 'HEAD', 'OPTIONS', 'PATCH', 'BREW']) t.equal(match(method, '/any/').handler, 'any', method);
});

t.test('malformed percent-encoding is a bad request', async (t) => {
  for (const target of ['/tags/%zz/', '/tags/%E0%A4%A/', '/tags/%/', '/tags/%FF/']) {
    const result = router.resolve('GET', target);
    t.equal(result.kind, 'bad-request', target);
    if (result.kind === 'bad-request') t.equal(result.error.code, 'APP_ERR_BAD_REQUEST');
  }
});

t.test('bad route tables fail at start-up', async (t) => {
  t.throws(() => path('a/<float:x>/', { GET: 'v' }), /unknown converter "float"/);
  t.throws(() => path('a/<int:x>/<x>/', { GET: 'v' }), /appears twice/);
  t.throws(() => path('a/<int:x/', { GET: 'v' }), /malformed parameter/);
  t.throws(() => createRouter([path('a/', { GET: 'v' }, 'n'), path('b/', { GET: 'v' }, 'n')]), /used twice/);
  t.throws(() => createRouter([rePath(/a/, { GET: 'v' }, 'r')]).reverse('r'), /cannot be reversed/);
});

t.test('APPEND_SLASH never builds a Location that leaves the site', async (t) => {
  const catchAll = createRouter([path('<path:rest>/', { GET: 'any' })]);
  t.same(catchAll.resolve('GET', '/a/b'), { kind: 'redirect', status: 301, location: '/a/b/' });
  t.equal(catchAll.resolve('GET', '//evil.example').kind, 'not-found');
  t.equal(catchAll.resolve('GET', '/\\evil.example').kind, 'not-found');
});
