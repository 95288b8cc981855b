/**
 * Issue 17's application features: 307 to the newest article (method kept), URL anatomy
 * (/api/urlparse with Python's urlparse names, and the inspector's breakdown), Django's
 * converters and a re_path twin, resolve(), the debug 404 that lists the patterns tried, and
 * the /status-codes/ page.
 */
import t from 'tap';
import { harness } from './fixture.js';
import { STATUS_CODES } from '../../../app-tier/app/status-codes.js';

const ARTICLES = [
  { title: 'Older', slug: 'older', body: 'x', published: '2003-05-17T10:00:00Z' },
  { title: 'Newest', slug: 'newest', body: 'y', published: '2004-02-01T10:00:00Z' },
];

t.test('307 to the newest article, for every method; 404 without articles', async (t) => {
  const h = harness(t, { articles: ARTICLES });
  const page = await h.send('/articles/latest/');
  t.equal(page.status, 307);
  t.equal(page.header('location'), '/articles/2004/02/newest/');
  t.equal(page.header('cache-control'), 'no-store', 'temporary: it changes with every new article');
  const patch = await h.send('/api/articles/latest/', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"title":"x"}' });
  t.equal(patch.status, 307, 'a PATCH is told to repeat itself there');
  t.equal(patch.header('location'), '/api/articles/2/');
  t.equal((await h.send('/api/articles/latest/', { method: 'HEAD' })).status, 307);
  const empty = harness(t, {});
  t.equal((await empty.send('/articles/latest/')).status, 404);
});

t.test('/api/urlparse takes a URL apart under Python urlparse names', async (t) => {
  const h = harness(t);
  const url = 'HTTP://user:pw@Www.Example.com/a/b;type=i?q=1&q=2&name=J+Doe&e=#frag';
  const reply = await h.send(`/api/urlparse?url=${encodeURIComponent(url)}`);
  t.equal(reply.status, 200);
  t.match(reply.json(), {
    url, scheme: 'http', netloc: 'user:pw@Www.Example.com', hostname: 'www.example.com', port: 80, defaultPort: true,
    username: 'user', password: 'pw', path: '/a/b', params: 'type=i', query: 'q=1&q=2&name=J+Doe&e=', fragment: 'frag',
    queryPairs: [{ name: 'q', value: '1' }, { name: 'q', value: '2' }, { name: 'name', value: 'J Doe' }, { name: 'e', value: '' }],
  });
  t.match((await h.send(`/api/urlparse?url=${encodeURIComponent('https://[::1]:8443/x')}`)).json(), { hostname: '::1', port: 8443, defaultPort: false });
  t.match((await h.send(`/api/urlparse?url=${encodeURIComponent('https://example.com')}`)).json(), { port: 443, path: '' });
  t.match((await h.send(`/api/urlparse?url=${encodeURIComponent('ftp://example.com/')}`)).json(), { port: null });
  t.equal((await h.send('/api/urlparse')).status, 400);
  t.equal((await h.send(`/api/urlparse?url=${encodeURIComponent('http://h:99999/')}`)).status, 400);
});

t.test('the inspector shows the URL it received, taken apart, with no fragment', async (t) => {
  const h = harness(t);
  const parts = (await h.send('/api/echo/x;p?a=1&b=two', { headers: { host: 'site.test:8080', 'x-forwarded-proto': 'https' } })).json().urlParts;
  t.match(parts, { url: 'https://site.test:8080/api/echo/x;p?a=1&b=two', scheme: 'https', hostname: 'site.test', port: 8080, path: '/api/echo/x', params: 'p', fragment: '' });
  t.match(parts.note, /never sent/);
});

t.test('converters: int, slug, uuid, str, path in the table; the re_path twin of a path route', async (t) => {
  const h = harness(t, { articles: ARTICLES });
  const { routes } = (await h.send('/api/routes/')).json();
  const patterns = routes.map((route: { pattern: string }) => route.pattern).join(' ');
  for (const converter of ['int', 'slug', 'uuid', 'str', 'path']) t.match(patterns, new RegExp(`<${converter}:`), `the ${converter} converter is in use`);
  t.ok(routes.some((route: { kind: string; name: string }) => route.kind === 're_path' && route.name === 'api-archive-year-re'));

  const viaPath = (await h.send('/api/archive/2003/')).json();
  const viaRe = (await h.send('/api/archive-re/2003/')).json();
  t.match(viaPath, { year: 2003, yearType: 'number', route: 'api-archive-year', articles: [{ slug: 'older' }] });
  t.match(viaRe, { year: '2003', yearType: 'string', route: 'api-archive-year-re', articles: [{ slug: 'older' }] });
  t.equal((await h.send('/api/archive/12345/')).status, 404, 'int takes five digits; no such year');
  t.equal((await h.send('/api/archive-re/12345/')).status, 404, 'the regex wants four: no route');

  const resolved = (await h.send('/api/resolve/articles/2003/05/older/')).json();
  t.match(resolved, { path: '/articles/2003/05/older/', outcome: 'match', route: 'article-detail', kind: 'path', params: { year: { value: 2003, type: 'number' }, month: { value: 5, type: 'number' }, slug: { value: 'older', type: 'string' } } });
  t.match((await h.send('/api/resolve/articles')).json(), { outcome: 'redirect', status: 301, location: '/articles/' });
  t.match((await h.send('/api/resolve/nowhere/')).json(), { outcome: 'not-found' });
});

t.test('debug 404 lists the patterns tried, in order; off by default', async (t) => {
  const plain = harness(t);
  const quiet = await plain.send('/api/nowhere/');
  t.equal(quiet.status, 404);
  t.equal(quiet.json().error.tried, undefined, 'no table without APP_DEBUG');
  t.notMatch((await plain.send('/nowhere/')).text, /api-article/);

  const debug = harness(t, { debug: true });
  const api = await debug.send('/api/nowhere/');
  t.equal(api.status, 404);
  t.match(api.json().error, { code: 'APP_ERR_NOT_FOUND', tried: [{ pattern: '/api\\/echo(?:\\/.*)?/s', kind: 're_path', name: 'echo' }, { pattern: 'api/articles/', kind: 'path', name: 'api-articles' }] });
  const page = await debug.send('/nowhere/');
  t.equal(page.status, 404);
  t.match(page.text, /these patterns were tried/);
  t.match(page.text, /articles\/&lt;int:year&gt;\/&lt;int:month&gt;\/&lt;slug:slug&gt;\//);
  t.equal((await debug.send('/api/articles/999/')).json().error.tried, undefined, 'a view\'s own 404 lists nothing');
});

t.test('/status-codes/ lists every code of the chapter with its tier and a command', async (t) => {
  const h = harness(t);
  const page = await h.send('/status-codes/', { headers: { host: '127.0.0.1:8080' } });
  t.equal(page.status, 200);
  for (const code of ['1xx', 200, 201, 202, 301, 303, 307, 400, 401, 403, 404, 500, 502, 503, 504]) {
    t.match(page.text, new RegExp(`id="code-${code}"`), `${code} is on the page`);
    t.ok(STATUS_CODES.some((entry) => entry.code === code), `${code} has a recipe`);
  }
  t.match(page.text, /curl -i -X POST -H &#39;Content-Type: application\/json&#39; -d &#39;\{\}&#39; &#39;http:\/\/127.0.0.1:8080\/api\/reports\/&#39;/);
  t.match(page.text, /printf &#39;GET \/ HTTP\/1.1\\nHost: localhost\\n\\n&#39; \| nc 127.0.0.1 8080/);
  t.match(page.text, /<a href="\/articles\/latest\/">/);
});
