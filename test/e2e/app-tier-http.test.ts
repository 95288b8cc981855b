/**
 * The application's statuses over real HTTP, against the built app tier (two workers, SQLite
 * in a temp dir): every request on a fresh connection, so they spread over both workers and
 * anything that only worked inside one process (CSRF secret, writes) would show.
 */
import t from 'tap';
import { send, startAppTier, type AppTierProcess } from '../helpers/app-tier.js';

const TOKEN = 'e2e-secret-token';
const auth = { Authorization: `Bearer ${TOKEN}` };
const json = { 'Content-Type': 'application/json' };

interface Article { id: number; title: string; slug: string; body: string; published: string }

let app: AppTierProcess;

t.before(async () => {
  app = await startAppTier(t, { workers: 2, env: { APP_TOKEN: TOKEN, APP_FAULT_ROUTES: '1' } });
});

t.test('articles JSON API: each method and status', async (t) => {
  const list = await send(`${app.url}/api/articles/`);
  t.equal(list.status, 200);
  t.match(list.headers['content-type'], /^application\/json/);

  const anonymous = await send(`${app.url}/api/articles/`, { method: 'POST', headers: json, body: JSON.stringify({ title: 'No token', body: '' }) });
  t.equal(anonymous.status, 401);
  t.match(anonymous.headers['www-authenticate'], /^Bearer/);
  const wrong = await send(`${app.url}/api/articles/`, { method: 'POST', headers: { ...json, Authorization: 'Bearer nope' }, body: '{}' });
  t.equal(wrong.status, 401);

  const created = await send(`${app.url}/api/articles/`, {
    method: 'POST',
    headers: { ...json, ...auth },
    body: JSON.stringify({ title: 'Over HTTP', body: 'first', published: '2003-05-17T10:00:00Z' }),
  });
  t.equal(created.status, 201);
  const article = created.json<Article>();
  t.equal(created.headers.location, `/api/articles/${article.id}/`);
  t.equal(article.slug, 'over-http');

  const url = `${app.url}/api/articles/${article.id}/`;
  t.match((await send(url)).json(), { id: article.id, title: 'Over HTTP' }, 'read back from any worker');
  const head = await send(url, { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(head.text, '');
  const put = await send(url, { method: 'PUT', headers: { ...json, ...auth }, body: JSON.stringify({ title: 'Replaced', slug: 'over-http', body: 'second', published: '2003-05-17T10:00:00Z' }) });
  t.equal(put.status, 200);
  t.match(put.json(), { title: 'Replaced', body: 'second' });
  const patch = await send(url, { method: 'PATCH', headers: { ...json, ...auth }, body: JSON.stringify({ body: 'third' }) });
  t.equal(patch.status, 200);
  t.match(patch.json(), { title: 'Replaced', body: 'third' });

  const invalid = await send(`${app.url}/api/articles/`, { method: 'POST', headers: { ...json, ...auth }, body: JSON.stringify({ title: '', body: '' }) });
  t.equal(invalid.status, 400);
  t.match(invalid.json(), { error: { code: String, message: String, field: 'title' } });
  const conflict = await send(`${app.url}/api/articles/`, { method: 'POST', headers: { ...json, ...auth }, body: JSON.stringify({ title: 'Clash', slug: 'over-http', body: '', published: '2003-05-02T00:00:00Z' }) });
  t.equal(conflict.status, 400, 'a slug taken in that month is a validation error on slug');
  t.match(conflict.json(), { error: { field: 'slug' } });
  t.equal((await send(`${app.url}/api/articles/`, { method: 'POST', headers: { ...json, ...auth }, body: '{"title": ' })).status, 400, 'malformed JSON');
  t.equal((await send(`${app.url}/api/articles/`, { method: 'POST', headers: { 'Content-Type': 'text/plain', ...auth }, body: 'title=x' })).status, 415);

  const options = await send(url, { method: 'OPTIONS' });
  t.equal(options.status, 204);
  t.match(options.headers.allow, /DELETE/);
  const unauthorisedDelete = await send(url, { method: 'DELETE' });
  t.equal(unauthorisedDelete.status, 401);
  t.equal((await send(url, { method: 'DELETE', headers: auth })).status, 204);
  t.equal((await send(url)).status, 404);
  t.equal((await send(`${app.url}/api/articles/999999/`)).status, 404);
});

t.test('HTML form: 303 after a valid post, 403 without the CSRF token', async (t) => {
  const form = await send(`${app.url}/articles/new/`);
  t.equal(form.status, 200);
  const setCookie = form.headers['set-cookie']?.[0] ?? '';
  const cookie = setCookie.split(';', 1)[0] ?? '';
  t.match(cookie, /^csrftoken=./);
  const token = /name="csrf_token" value="([^"]+)"/.exec(form.text)?.[1] ?? '';
  t.not(token, '');
  const fields = (extra: Record<string, string>): string => new URLSearchParams({ title: 'From the form', slug: '', body: 'posted', published: '2003-05-30', token: TOKEN, ...extra }).toString();
  const formHeaders = { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: cookie };

  const posted = await send(`${app.url}/articles/`, { method: 'POST', headers: formHeaders, body: fields({ csrf_token: token }) });
  t.equal(posted.status, 303);
  t.equal(posted.headers.location, '/articles/2003/05/from-the-form/');
  const detail = await send(`${app.url}${posted.headers.location ?? ''}`);
  t.equal(detail.status, 200);
  t.match(detail.text, /From the form/);

  t.equal((await send(`${app.url}/articles/`, { method: 'POST', headers: formHeaders, body: fields({}) })).status, 403, 'no token');
  t.equal((await send(`${app.url}/articles/`, { method: 'POST', headers: formHeaders, body: fields({ csrf_token: `${token}x` }) })).status, 403, 'wrong token');
  t.equal((await send(`${app.url}/articles/`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: fields({ csrf_token: token }) })).status, 403, 'no cookie');
  const invalid = await send(`${app.url}/articles/`, { method: 'POST', headers: formHeaders, body: fields({ csrf_token: token, title: '' }) });
  t.equal(invalid.status, 400);
  t.match(invalid.headers['content-type'], /^text\/html/);
});

t.test('an exception in a view → 500 with the request id, and the worker keeps serving', async (t) => {
  const fault = await send(`${app.url}/api/_fault/throw`, { headers: { 'X-Request-Id': 'fault-e2e-1' } });
  t.equal(fault.status, 500);
  t.match(fault.text, /fault-e2e-1/);
  t.notMatch(fault.text, /deliberate fault|\bat \S+:\d+/, 'no message or stack on the wire');
  const logged = await app.waitForLine((line) => line['reqId'] === 'fault-e2e-1' && line['level'] === 50);
  t.ok(logged, 'the full error is logged with the request id');
  for (let attempt = 0; attempt < 4; attempt += 1) {
    const after = await send(`${app.url}/api/echo`);
    t.equal(after.status, 200);
    t.ok(app.workerPids.includes(after.json<{ worker: { pid: number } }>().worker.pid), 'the same workers still serve');
  }
  t.notOk(app.lines.some((line) => line.msg === 'worker died; replacing it'), 'no worker died');
});
