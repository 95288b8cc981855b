import t, { type Test } from 'tap';
import { harness, type Answer, type Harness } from './fixture.js';

const SEED = [
  { title: 'Dusk <script>alert(1)</script>', slug: 'dusk', body: 'First paragraph.\n\nSecond & <b>last</b>.', published: '2003-05-17T10:00:00Z' },
  { title: 'Later in May', slug: 'later', body: 'x', published: '2003-05-30T10:00:00Z' },
  { title: 'June one', slug: 'june-one', body: 'y', published: '2003-06-02T10:00:00Z' },
  { title: 'Next year', slug: 'next-year', body: 'z', published: '2004-01-09T10:00:00Z' },
];

function isPage(t: Test, res: Answer, status = 200): void {
  t.equal(res.status, status);
  t.equal(res.header('content-type'), 'text/html; charset=utf-8');
  t.match(res.text, /^<!doctype html>/);
  t.match(res.text, /<link rel="stylesheet" href="\/static\/site\.css">/);
  t.match(res.header('content-security-policy'), /default-src 'self'/);
}

t.test('archive index lists years and months with counts, newest first', async (t) => {
  const { send } = harness(t, { articles: SEED, worker: { pid: 77 } });
  const res = await send('/articles/');
  isPage(t, res);
  t.match(res.text, /href="\/articles\/2004\/"/);
  t.match(res.text, /href="\/articles\/2003\/05\/">May<\/a> \(2\)/);
  t.ok(res.text.indexOf('/articles/2004/') < res.text.indexOf('/articles/2003/'), 'newest year first');
  t.match(res.text, /in process <code>77<\/code>/);
  t.notMatch(res.text, /<script>alert/, 'titles are escaped');
  t.match(res.text, /Dusk &lt;script&gt;alert\(1\)&lt;\/script&gt;/);
});

t.test('an empty archive is still a page', async (t) => {
  const { send } = harness(t);
  const res = await send('/articles/');
  isPage(t, res);
  t.match(res.text, /No articles yet/);
});

t.test('year, month and detail pages; clean URLs with zero-padded months', async (t) => {
  const { send } = harness(t, { articles: SEED });
  const year = await send('/articles/2003/');
  isPage(t, year);
  t.match(year.text, /href="\/articles\/2003\/05\/dusk\/"/);
  t.match(year.text, /href="\/articles\/2003\/06\/june-one\/"/);
  t.notMatch(year.text, /next-year/);

  const month = await send('/articles/2003/05/');
  isPage(t, month);
  t.match(month.text, /Later in May/);
  t.notMatch(month.text, /June one/);
  t.equal((await send('/articles/2003/5/')).status, 200, 'an unpadded month is the same page');

  const detail = await send('/articles/2003/05/dusk/');
  isPage(t, detail);
  t.match(detail.text, /<p>First paragraph\.<\/p>/);
  t.match(detail.text, /<p>Second &amp; &lt;b&gt;last&lt;\/b&gt;\.<\/p>/, 'the body is text, not HTML');
  t.match(detail.text, /href="\/api\/articles\/1\/"/);

  const head = await send('/articles/2003/05/dusk/', { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(head.text, '');
  t.equal(head.header('content-length'), detail.header('content-length'));
});

t.test('pages that do not exist are 404 pages with the request id', async (t) => {
  const { send } = harness(t, { articles: SEED });
  for (const target of ['/articles/1999/', '/articles/2003/07/', '/articles/2003/13/', '/articles/2003/00/', '/articles/2003/05/nope/', '/articles/2003/06/dusk/', '/nothing/here']) {
    const res = await send(target, { requestId: 'req-404' });
    isPage(t, res, 404);
    t.match(res.text, /req-404/, target);
  }
  const redirect = await send('/articles/2003?x=1');
  t.equal(redirect.status, 301);
  t.equal(redirect.header('location'), '/articles/2003/?x=1');
  const wrong = await send('/articles/2003/', { method: 'POST' });
  t.equal(wrong.status, 405);
  t.equal(wrong.header('allow'), 'GET, HEAD, OPTIONS');
  t.match(wrong.header('content-type'), /^text\/html/);
});

interface FormSession {
  cookie: string;
  token: string;
}

async function openForm(h: Harness, cookie?: string): Promise<FormSession & { res: Answer }> {
  const res = await h.send('/articles/new/', cookie === undefined ? {} : { headers: { cookie: `other=1; csrftoken=${cookie}` } });
  const setCookie = res.header('set-cookie');
  const cookieValue = cookie ?? /^csrftoken=([^;]+);/.exec(setCookie ?? '')?.[1] ?? '';
  const token = /name="csrf_token" value="([^"]+)"/.exec(res.text)?.[1] ?? '';
  return { res, cookie: cookieValue, token };
}

function submit(h: Harness, session: FormSession, fields: Record<string, string>, headers: Record<string, string> = {}) {
  return h.send('/articles/', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `csrftoken=${session.cookie}`, ...headers },
    body: new URLSearchParams({ csrf_token: session.token, ...fields }).toString(),
  });
}

t.test('the form: a CSRF cookie and a per-form token, never cached', async (t) => {
  const h = harness(t);
  const first = await openForm(h);
  isPage(t, first.res);
  t.match(first.res.header('set-cookie'), /^csrftoken=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax$/);
  t.equal(first.res.header('cache-control'), 'no-store');
  t.match(first.res.text, /<form method="post" action="\/articles\/"/);
  t.ok(first.token.length > 0);
  const again = await openForm(h, first.cookie);
  t.equal(again.res.header('set-cookie'), undefined, 'an existing cookie is kept');
  t.not(again.token, first.token, 'each form gets its own token');
  t.ok(h.store.settings.has('csrf-secret'), 'the signing secret lives in the store');
  const secure = await h.send('/articles/new/', { headers: { 'x-forwarded-proto': 'https' } });
  t.match(secure.header('set-cookie'), /; Secure$/);
});

t.test('a valid post → 303 See Other to the detail page', async (t) => {
  const h = harness(t);
  const session = await openForm(h);
  const res = await submit(h, session, { title: 'Form post', slug: '', published: '2003-05-17', body: 'Hello <there>' });
  t.equal(res.status, 303);
  t.equal(res.header('location'), '/articles/2003/05/form-post/');
  const detail = await h.send(res.header('location') ?? '');
  t.equal(detail.status, 200);
  t.match(detail.text, /Hello &lt;there&gt;/);
  const reused = await submit(h, session, { title: 'Second from the same form', published: '2003-05-17', body: '' });
  t.equal(reused.status, 303, 'a token stays valid until it expires');
});

t.test('invalid input → 400 with the form, the errors and the values kept (escaped)', async (t) => {
  const h = harness(t);
  const session = await openForm(h);
  const res = await submit(h, session, { title: '', slug: 'bad slug', published: '2003-02-30', body: '<keep me>' });
  isPage(t, res, 400);
  t.match(res.text, /title must be 1 to 200 characters/);
  t.match(res.text, /slug must be/);
  t.match(res.text, /published must be/);
  t.match(res.text, /value="bad slug"/);
  t.match(res.text, /&lt;keep me&gt;<\/textarea>/);
  t.match(res.text, /name="csrf_token" value="[^"]+"/, 'the form comes back with a fresh token');
  t.equal(await h.store.countArticles(), 0);
  await submit(h, session, { title: 'Taken', published: '2003-05-01', body: '' });
  const clash = await submit(h, session, { title: 'Another', slug: 'taken', published: '2003-05-02', body: '' });
  isPage(t, clash, 400);
  t.match(clash.text, /slug already exists/);
});

t.test('a missing or wrong CSRF token → 403', async (t) => {
  const h = harness(t);
  const session = await openForm(h);
  const other = await openForm(h);
  const fields = { title: 'Forged', body: '' };
  const cases: [string, Record<string, string> | undefined, FormSession][] = [
    ['no token', undefined, { cookie: session.cookie, token: '' }],
    ['garbage token', undefined, { cookie: session.cookie, token: 'abc' }],
    ["another browser's token", undefined, { cookie: session.cookie, token: other.token }],
    ['tampered token', undefined, { cookie: session.cookie, token: `${session.token.slice(0, -2)}AA` }],
  ];
  for (const [name, headers, forged] of cases) {
    const res = await submit(h, forged, fields, headers);
    isPage(t, res, 403);
    t.match(res.text, /CSRF verification failed/, name);
  }
  const noCookie = await h.send('/articles/', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf_token: session.token, ...fields }).toString(),
  });
  t.equal(noCookie.status, 403, 'no cookie');
  t.equal(await h.store.countArticles(), 0);
});

t.test('the token verifies in another app instance over the same store (another worker or CGI process)', async (t) => {
  const h = harness(t);
  const session = await openForm(h);
  const { createApp } = await import('../../../app-tier/app/create-app.js');
  const { createLogger } = await import('../../../common/logger.js');
  const { appRequest, answer } = await import('./fixture.js');
  const second = createApp({ store: h.store, logger: createLogger({ tier: 'app', level: 'silent' }) });
  const res = await answer(await second.handle(appRequest('/articles/', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `csrftoken=${session.cookie}` },
    body: new URLSearchParams({ csrf_token: session.token, title: 'Elsewhere', body: '' }).toString(),
  })));
  t.equal(res.status, 303);
});

t.test('a form post that is not form-encoded → 415', async (t) => {
  const h = harness(t);
  const res = await h.send('/articles/', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  isPage(t, res, 415);
});

t.test('with APP_TOKEN the form asks for the token: wrong → 401 with the form, right → 303', async (t) => {
  const h = harness(t, { appToken: 'tok' });
  const session = await openForm(h);
  t.match(session.res.text, /name="token" type="password"/);
  const missing = await submit(h, session, { title: 'Guarded', body: '' });
  isPage(t, missing, 401);
  t.equal(missing.header('www-authenticate'), 'Bearer realm="twotier"');
  t.match(missing.text, /value="Guarded"/);
  const wrong = await submit(h, session, { title: 'Guarded', body: '', token: 'nope' });
  t.equal(wrong.status, 401);
  const right = await submit(h, session, { title: 'Guarded', body: '', token: 'tok' });
  t.equal(right.status, 303);
});
