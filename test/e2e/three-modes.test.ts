/**
 * Issue 12 item 2: the three ways of running the application give the same answers. One table
 * of requests (reads, writes with and without APP_TOKEN, a wrong token, CSRF form posts, bad
 * input, an unknown id, a wrong method) goes through the built web tier in front of the real
 * app tier (proxy), with the app embedded (WEB_DYNAMIC=embedded), as CGI for the dynamic
 * prefixes (WEB_DYNAMIC=cgi) and as /cgi-bin/app in proxy mode with WEB_CGI=on. Each mode has
 * its own freshly seeded database and APP_TOKEN set once, in the environment of both tiers,
 * the way `npm start` hands the caller's environment to each. The statuses and the
 * WWW-Authenticate challenges must be the same in every mode.
 *
 * The edge fields too (issue 12 items 1 and 6): a plain-http client that forges X-Forwarded-For,
 * -Proto, -Host, -Port, X-Real-IP, Forwarded, X-Request-Id, Via and Proxy, and names some of them
 * in Connection, gets the web tier's values in every mode (/api/echo shows what the app saw), and
 * its CSRF cookie is not Secure (app-tier/app/csrf.ts reads X-Forwarded-Proto).
 *
 * And with the CGI gateway off (the default), /cgi-bin/app/… is an ordinary static path: 404,
 * and nothing is written to the database the app tier uses.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { send, startAppTier, type Reply } from '../helpers/app-tier.js';
import { spawnEntry, WEB_MAIN } from '../helpers/web-tier.js';

const TOKEN = 'three-modes-Secret-1';

// Two CGI modes start a node process per request (about 90 of them, with issue 17's rows and a
// report job polled to its end): on a loaded 2-core box that takes minutes (about 10 measured),
// more than the package's 180 s per file.
t.setTimeout(900_000);

interface Mode {
  readonly name: string;
  /** Prepended to every path of the table (the /cgi-bin/app row reaches the app under SCRIPT_NAME). */
  readonly prefix: string;
  start(t: Test): Promise<string>;
}

function tempDir(t: Test, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `twotier-3modes-${name}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function startWebTier(t: Test, env: Record<string, string>): Promise<string> {
  const web = spawnEntry(t, WEB_MAIN, { WEB_HOST: '127.0.0.1', WEB_PORT: '0', LOG_LEVEL: 'info', WEB_CGI_TIMEOUT_MS: '30000', ...env });
  const listening = await web.waitForLine((line) => line['msg'] === 'listening', 60_000);
  return `http://127.0.0.1:${listening['port'] as number}`;
}

async function startProxy(t: Test, webEnv: Record<string, string> = {}): Promise<{ web: string; dataDir: string }> {
  const app = await startAppTier(t, { workers: 1, env: { APP_TOKEN: TOKEN }, readyTimeoutMs: 60_000 });
  // The web tier names the app tier's database too (as the placements do), so a CGI run would write to it.
  const web = await startWebTier(t, { APP_UPSTREAMS: app.url, APP_TOKEN: TOKEN, DATABASE_URL: `sqlite:${join(app.dataDir, 'twotier.db')}`, ...webEnv });
  return { web, dataDir: app.dataDir };
}

const MODES: readonly Mode[] = [
  { name: 'proxy', prefix: '', start: async (t) => (await startProxy(t)).web },
  {
    name: 'embedded',
    prefix: '',
    start: (t) => startWebTier(t, { WEB_DYNAMIC: 'embedded', APP_UPSTREAMS: '', APP_TOKEN: TOKEN, DATABASE_URL: `sqlite:${join(tempDir(t, 'embedded'), 'twotier.db')}` }),
  },
  {
    name: 'cgi',
    prefix: '',
    start: (t) => startWebTier(t, { WEB_DYNAMIC: 'cgi', APP_UPSTREAMS: '', APP_TOKEN: TOKEN, DATABASE_URL: `sqlite:${join(tempDir(t, 'cgi'), 'twotier.db')}`, NODE: process.execPath }),
  },
  {
    name: 'cgi-bin (proxy mode, WEB_CGI=on)',
    prefix: '/cgi-bin/app',
    start: async (t) => (await startProxy(t, { WEB_CGI: 'on' })).web,
  },
];

/** What one row sends; `form` rows first fetch the form for a CSRF cookie and token. */
interface Row {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** A form post: `csrf` says whether the cookie and the form's token go with it. */
  readonly form?: { readonly csrf: boolean; readonly fields: Record<string, string> };
  readonly status: number;
  /** The challenge a 401 carries (RFC 6750 §3), exactly. */
  readonly challenge?: string;
  /** What else the answer must say, the same in every mode: `probe` reads it, `saw` is the expected value. */
  readonly probe?: (reply: Reply, host: string) => unknown;
  readonly saw?: unknown;
}

const JSON_TYPE = { 'Content-Type': 'application/json', Accept: 'application/json' };
const bearer = (token: string): Record<string, string> => ({ Authorization: `Bearer ${token}` });
const article = JSON.stringify({ title: 'Same in every mode', body: 'Three ways, one answer.', published: '2003-05-17T10:00:00.000Z' });
const BARE = 'Bearer realm="twotier"';
const INVALID = 'Bearer realm="twotier", error="invalid_token"';

/** A plain-http client on 127.0.0.1 claiming to be someone else, behind https, through proxies. */
const FORGED: Record<string, string> = {
  'X-Forwarded-For': '6.6.6.6', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'evil.example', 'X-Forwarded-Port': '443',
  'X-Real-IP': '6.6.6.6', Forwarded: 'for=6.6.6.6;proto=https', 'X-Request-Id': 'forged-id', Via: '1.0 forged', Proxy: 'http://evil.example',
  // RFC 9110 §7.6.1 tokens naming fields the edge sets: ignored, never a way to strip them ("close" so node's client does not keep the socket).
  Connection: 'close, x-forwarded-for, x-real-ip, forwarded',
};

/** The edge fields as the application saw them (/api/echo). */
function edgeFieldsSeen(reply: Reply, host: string): unknown {
  const headers = reply.json<{ headers: Record<string, string | undefined> }>().headers;
  return {
    'x-forwarded-for': headers['x-forwarded-for'],
    'x-forwarded-proto': headers['x-forwarded-proto'],
    'x-forwarded-host is the Host': headers['x-forwarded-host'] === host,
    'x-forwarded-port': headers['x-forwarded-port'],
    'x-real-ip': headers['x-real-ip'],
    forwarded: headers['forwarded']?.replace(`host="${host}"`, 'host=HOST'),
    'x-request-id is the edge\'s': headers['x-request-id'] !== undefined && headers['x-request-id'] === reply.headers['x-request-id'],
    // The proxy's element carries its deployment's token (proxy/loop-guard.ts); embedded and CGI hand over without a hop.
    via: headers['via']?.replace(/ twotier-web-[0-9a-f]{16}$/, ' twotier-web'),
    proxy: headers['proxy'],
    'forged value anywhere': JSON.stringify(headers).includes('6.6.6.6') || JSON.stringify(headers).includes('evil.example'),
  };
}

const EDGE_FIELDS = {
  'x-forwarded-for': '127.0.0.1',
  'x-forwarded-proto': 'http',
  'x-forwarded-host is the Host': true,
  'x-forwarded-port': undefined,
  'x-real-ip': '127.0.0.1',
  forwarded: 'for=127.0.0.1;host=HOST;proto=http',
  'x-request-id is the edge\'s': true,
  via: '1.0 forged, 1.1 twotier-web',
  proxy: undefined,
  'forged value anywhere': false,
};

/** The CSRF cookie's attributes (RFC 6265 §4.1.2.5: Secure only when the original request was https). */
function cookieSecure(reply: Reply): unknown {
  const cookie = reply.headers['set-cookie']?.find((value) => value.startsWith('csrftoken='));
  return { 'sets the CSRF cookie': cookie !== undefined, secure: cookie !== undefined && /;\s*secure\s*(;|$)/i.test(cookie) };
}

const TABLE: readonly Row[] = [
  { name: 'echo with forged edge fields', method: 'GET', path: '/api/echo', headers: { Accept: 'application/json', ...FORGED }, status: 200, probe: edgeFieldsSeen, saw: EDGE_FIELDS },
  { name: 'the form with a forged X-Forwarded-Proto: https', method: 'GET', path: '/articles/new/', headers: FORGED, status: 200, probe: cookieSecure, saw: { 'sets the CSRF cookie': true, secure: false } },
  { name: 'list', method: 'GET', path: '/api/articles/', headers: { Accept: 'application/json' }, status: 200 },
  { name: 'read one', method: 'GET', path: '/api/articles/1/', headers: { Accept: 'application/json' }, status: 200 },
  { name: 'unknown id', method: 'GET', path: '/api/articles/999999/', headers: { Accept: 'application/json' }, status: 404 },
  { name: 'create without a token', method: 'POST', path: '/api/articles/', headers: JSON_TYPE, body: article, status: 401, challenge: BARE },
  { name: 'create with a wrong token', method: 'POST', path: '/api/articles/', headers: { ...JSON_TYPE, ...bearer('not-the-token') }, body: article, status: 401, challenge: INVALID },
  { name: 'create with a token in a header the app does not read', method: 'POST', path: '/api/articles/', headers: { ...JSON_TYPE, 'App-Token': TOKEN }, body: article, status: 401, challenge: BARE },
  { name: 'create with the token', method: 'POST', path: '/api/articles/', headers: { ...JSON_TYPE, ...bearer(TOKEN) }, body: article, status: 201 },
  { name: 'create, malformed JSON', method: 'POST', path: '/api/articles/', headers: { ...JSON_TYPE, ...bearer(TOKEN) }, body: '{"title":', status: 400 },
  { name: 'create, invalid article', method: 'POST', path: '/api/articles/', headers: { ...JSON_TYPE, ...bearer(TOKEN) }, body: JSON.stringify({ title: '' }), status: 400 },
  { name: 'create, not JSON', method: 'POST', path: '/api/articles/', headers: { 'Content-Type': 'text/plain', Accept: 'application/json', ...bearer(TOKEN) }, body: 'hello', status: 415 },
  { name: 'replace an unknown id', method: 'PUT', path: '/api/articles/999999/', headers: { ...JSON_TYPE, ...bearer(TOKEN) }, body: article, status: 404 },
  { name: 'patch without a token', method: 'PATCH', path: '/api/articles/1/', headers: JSON_TYPE, body: JSON.stringify({ title: 'Changed' }), status: 401, challenge: BARE },
  { name: 'delete without a token', method: 'DELETE', path: '/api/articles/1/', headers: { Accept: 'application/json' }, status: 401, challenge: BARE },
  { name: 'delete with a wrong token', method: 'DELETE', path: '/api/articles/1/', headers: { Accept: 'application/json', ...bearer('x') }, status: 401, challenge: INVALID },
  { name: 'still there', method: 'GET', path: '/api/articles/1/', headers: { Accept: 'application/json' }, status: 200 },
  { name: 'delete with the token', method: 'DELETE', path: '/api/articles/1/', headers: { Accept: 'application/json', ...bearer(TOKEN) }, status: 204 },
  { name: 'gone', method: 'GET', path: '/api/articles/1/', headers: { Accept: 'application/json' }, status: 404 },
  { name: 'delete an unknown id', method: 'DELETE', path: '/api/articles/999999/', headers: { Accept: 'application/json', ...bearer(TOKEN) }, status: 404 },
  { name: 'method not allowed', method: 'DELETE', path: '/api/articles/', headers: { Accept: 'application/json', ...bearer(TOKEN) }, status: 405 },
  { name: 'the form', method: 'GET', path: '/articles/new/', status: 200 },
  { name: 'form post without CSRF cookie and token', method: 'POST', path: '/articles/', form: { csrf: false, fields: { title: 'Form', body: 'x', token: TOKEN } }, status: 403 },
  { name: 'form post with CSRF, no write token', method: 'POST', path: '/articles/', form: { csrf: true, fields: { title: 'Form', body: 'x' } }, status: 401, challenge: BARE },
  { name: 'form post with CSRF, wrong write token', method: 'POST', path: '/articles/', form: { csrf: true, fields: { title: 'Form', body: 'x', token: 'wrong' } }, status: 401, challenge: INVALID },
  { name: 'form post with CSRF and the write token', method: 'POST', path: '/articles/', form: { csrf: true, fields: { title: 'Form', body: 'x', published: '2003-05-17', token: TOKEN } }, status: 303 },
  { name: 'form post, not a form body', method: 'POST', path: '/articles/', headers: { 'Content-Type': 'text/plain' }, body: 'title=x', status: 415 },
  // Issue 17: the chapter's status codes as features, the same in every mode.
  { name: 'report without a token', method: 'POST', path: '/api/reports/', headers: JSON_TYPE, body: '{}', status: 401, challenge: BARE },
  { name: 'report as a form (no JSON)', method: 'POST', path: '/api/reports/', headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...bearer(TOKEN) }, body: 'a=b', status: 415 },
  { name: 'report accepted', method: 'POST', path: '/api/reports/', headers: { ...JSON_TYPE, ...bearer(TOKEN) }, body: '{}', status: 202, probe: acceptedJob, saw: { 'Location is the job': true, 'Retry-After': '1', state: 'queued' } },
  { name: 'unknown report job', method: 'GET', path: '/api/reports/jobs/00000000-0000-4000-8000-000000000000/', status: 404 },
  { name: 'latest article page', method: 'GET', path: '/articles/latest/', status: 307, probe: (reply) => /\/articles\/\d{4}\/\d{2}\/[^/]+\/$/.test(reply.headers.location ?? ''), saw: true },
  { name: 'latest article, PATCH told to repeat itself', method: 'PATCH', path: '/api/articles/latest/', headers: JSON_TYPE, body: '{}', status: 307, probe: (reply) => /\/api\/articles\/\d+\/$/.test(reply.headers.location ?? ''), saw: true },
  { name: 'urlparse', method: 'GET', path: `/api/urlparse?url=${encodeURIComponent('https://u@Example.com/a;p?q=1&q=2#f')}`, status: 200, probe: urlParsed, saw: { scheme: 'https', hostname: 'example.com', port: 443, path: '/a', params: 'p', query: 'q=1&q=2', fragment: 'f', pairs: 2 } },
  { name: 'the inspector takes its URL apart', method: 'GET', path: '/api/echo?x=1', status: 200, probe: (reply) => { const parts = reply.json<{ urlParts: { query: string; fragment: string } }>().urlParts; return [parts.query, parts.fragment]; }, saw: ['x=1', ''] },
  { name: 'path converter: resolve', method: 'GET', path: '/api/resolve/articles/2003/05/some-slug/', status: 200, probe: (reply) => reply.json<{ route: string }>().route, saw: 'article-detail' },
  { name: 'the re_path twin', method: 'GET', path: '/api/archive-re/2003/', status: 200, probe: (reply) => reply.json<{ yearType: string }>().yearType, saw: 'string' },
  { name: 'the path twin', method: 'GET', path: '/api/archive/2003/', status: 200, probe: (reply) => reply.json<{ yearType: string }>().yearType, saw: 'number' },
  { name: 'the status codes page', method: 'GET', path: '/status-codes/', status: 200 },
];

function acceptedJob(reply: Reply): unknown {
  return {
    'Location is the job': /\/api\/reports\/jobs\/[0-9a-f-]{36}\/$/.test(reply.headers.location ?? ''),
    'Retry-After': reply.headers['retry-after'],
    state: reply.json<{ state: string }>().state,
  };
}

function urlParsed(reply: Reply): unknown {
  const parts = reply.json<Record<string, unknown> & { queryPairs: unknown[] }>();
  const { scheme, hostname, port, path, params, query, fragment } = parts;
  return { scheme, hostname, port, path, params, query, fragment, pairs: parts.queryPairs.length };
}

/** GET the form: the CSRF cookie it sets and the token it carries. */
async function csrfPair(base: string): Promise<{ cookie: string; token: string }> {
  const page = await send(`${base}/articles/new/`);
  const setCookie = page.headers['set-cookie']?.[0] ?? '';
  const cookie = /^(csrftoken=[^;]+)/.exec(setCookie)?.[1];
  const token = /name="csrf_token" value="([^"]+)"/.exec(page.text)?.[1];
  if (page.status !== 200 || cookie === undefined || token === undefined) throw new Error(`no CSRF cookie/token from the form (${page.status})`);
  return { cookie, token };
}

async function sendRow(base: string, mode: Mode, row: Row): Promise<Reply> {
  const url = `${base}${mode.prefix}${row.path}`;
  if (row.form === undefined) {
    return send(url, { method: row.method, ...(row.headers === undefined ? {} : { headers: row.headers }), ...(row.body === undefined ? {} : { body: row.body }) });
  }
  const fields = new URLSearchParams(row.form.fields);
  const headers: Record<string, string> = { 'Content-Type': 'application/x-www-form-urlencoded' };
  if (row.form.csrf) {
    const pair = await csrfPair(`${base}${mode.prefix}`);
    headers['Cookie'] = pair.cookie;
    fields.set('csrf_token', pair.token);
  }
  return send(url, { method: row.method, headers, body: fields.toString() });
}

interface Outcome {
  readonly status: number;
  readonly challenge: string | undefined;
  readonly saw: unknown;
}

const expected: Outcome[] = TABLE.map((row) => ({ status: row.status, challenge: row.challenge, saw: row.saw }));
const seen = new Map<string, Outcome[]>();

for (const mode of MODES) {
  t.test(`${mode.name}: the table`, async (t) => {
    const base = await mode.start(t);
    const outcomes: Outcome[] = [];
    for (const row of TABLE) {
      const reply = await sendRow(base, mode, row);
      const outcome = { status: reply.status, challenge: reply.headers['www-authenticate'], saw: row.probe?.(reply, new URL(base).host) };
      outcomes.push(outcome);
      t.same(outcome, { status: row.status, challenge: row.challenge, saw: row.saw }, `${mode.name}: ${row.method} ${row.path} ${row.name}`);
    }
    seen.set(mode.name, outcomes);

    // A report job is driven by polls where no process outlives a request (CGI): 202, then 200s, then 303, then the report.
    const accepted = await send(`${base}${mode.prefix}/api/reports/`, { method: 'POST', headers: { ...JSON_TYPE, ...bearer(TOKEN) }, body: '{}' });
    const job = accepted.headers.location ?? '';
    const jobUrl = `${base}${job.startsWith(mode.prefix) ? job : `${mode.prefix}${job}`}`;
    let poll = await send(jobUrl, { headers: { Accept: 'application/json' } });
    const until = Date.now() + 60_000;
    while (poll.status === 200 && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      poll = await send(jobUrl, { headers: { Accept: 'application/json' } });
    }
    t.equal(poll.status, 303, `${mode.name}: the report job ends in 303 See Other`);
    const result = poll.headers.location ?? '';
    const report = await send(`${base}${result.startsWith(mode.prefix) ? result : `${mode.prefix}${result}`}`, { headers: { Accept: 'application/json' } });
    t.equal(report.status, 200, `${mode.name}: the report`);
    t.ok(report.json<{ words: number }>().words > 0, `${mode.name}: words were counted`);
  });
}

t.test('every mode answered the whole table the same way', async (t) => {
  t.equal(seen.size, MODES.length, 'every mode ran');
  for (const [name, outcomes] of seen) t.same(outcomes, expected, name);
});

t.test('CGI off (the default): /cgi-bin/app is a static path, 404, and nothing is written', async (t) => {
  const { web } = await startProxy(t);
  const count = async (): Promise<number> => (await send(`${web}/api/articles/`, { headers: { Accept: 'application/json' } })).json<{ total: number }>().total;
  const before = await count();
  const listed = await send(`${web}/cgi-bin/app/api/articles/`, { headers: { Accept: 'application/json' } });
  t.equal(listed.status, 404, 'GET /cgi-bin/app/api/articles/ → 404');
  t.equal(listed.headers['x-served-by'], 'static', 'answered as a static path');
  // A write to a static path is 405 (Allow: GET, HEAD, OPTIONS), as for any other static path.
  const created = await send(`${web}/cgi-bin/app/api/articles/`, { method: 'POST', headers: JSON_TYPE, body: article });
  t.equal(created.status, 405, 'POST /cgi-bin/app/api/articles/ → 405 from the static handler');
  t.equal(created.headers['x-served-by'], 'static', 'no script ran');
  t.equal(await count(), before, 'no article was created in the database the app tier uses');
  const deleted = await send(`${web}/cgi-bin/app/api/articles/1/`, { method: 'DELETE' });
  t.equal(deleted.status, 405, 'DELETE /cgi-bin/app/api/articles/1/ → 405 from the static handler');
  t.equal((await send(`${web}/cgi-bin/hello.sh`)).status, 404, 'no script at all runs');
    t.equal((await send(`${web}/api/articles/1/`, { headers: { Accept: 'application/json' } })).status, 200, 'article 1 is still there');
});
