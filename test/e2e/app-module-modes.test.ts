/**
 * Issue 18: the three-mode parity of three-modes.test.ts, for APP_MODULE applications. The
 * chapter's ten-line app (examples/hello) and an Express app through fromNodeHandler
 * (examples/express: routing, the JSON body parser, a cookie, a redirect, a streamed response)
 * answer the same through the built web tier in front of app-tier workers (proxy), embedded in the
 * web tier, as CGI for the dynamic prefixes, and as /cgi-bin/app with the gateway on. APP_MODULE
 * is set once, in both tiers' environment, as `npm start` hands it to each; the web tier gives it
 * to cgi-bin/app through the gateway's per-script environment.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { send, startAppTier, type Reply } from '../helpers/app-tier.js';
import { spawnEntry, WEB_MAIN } from '../helpers/web-tier.js';

t.setTimeout(900_000);

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-appmodule-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function startWebTier(t: Test, env: Record<string, string>): Promise<string> {
  const web = spawnEntry(t, WEB_MAIN, { WEB_HOST: '127.0.0.1', WEB_PORT: '0', LOG_LEVEL: 'info', WEB_CGI_TIMEOUT_MS: '30000', ...env });
  const listening = await web.waitForLine((line) => line['msg'] === 'listening', 60_000);
  return `http://127.0.0.1:${listening['port'] as number}`;
}

interface Mode {
  readonly name: string;
  readonly prefix: string;
  start(t: Test, module: string): Promise<string>;
}

async function proxied(t: Test, module: string, webEnv: Record<string, string> = {}): Promise<string> {
  const app = await startAppTier(t, { workers: 1, env: { APP_MODULE: module }, readyTimeoutMs: 60_000 });
  return startWebTier(t, { APP_UPSTREAMS: app.url, APP_MODULE: module, DATABASE_URL: `sqlite:${join(app.dataDir, 'twotier.db')}`, NODE: process.execPath, ...webEnv });
}

const MODES: readonly Mode[] = [
  { name: 'persistent (proxy)', prefix: '', start: (t, module) => proxied(t, module) },
  { name: 'embedded', prefix: '', start: (t, module) => startWebTier(t, { WEB_DYNAMIC: 'embedded', APP_UPSTREAMS: '', APP_MODULE: module, DATABASE_URL: `sqlite:${join(tempDir(t), 'db')}` }) },
  { name: 'cgi', prefix: '', start: (t, module) => startWebTier(t, { WEB_DYNAMIC: 'cgi', APP_UPSTREAMS: '', APP_MODULE: module, DATABASE_URL: `sqlite:${join(tempDir(t), 'db')}`, NODE: process.execPath }) },
  { name: 'cgi-bin (proxy mode, WEB_CGI=on)', prefix: '/cgi-bin/app', start: (t, module) => proxied(t, module, { WEB_CGI: 'on' }) },
];

interface Row {
  readonly name: string;
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

/** What must be the same in every mode (Date, framing and X-Served-By are the modes' own). */
function essence(reply: Reply): unknown {
  const { 'content-type': type, 'set-cookie': cookie, location, etag } = reply.headers;
  return { status: reply.status, type, cookie, location, etag, body: reply.text };
}

const APPS: readonly { name: string; module: string; rows: readonly Row[] }[] = [
  {
    name: 'examples/hello',
    module: join(EXAMPLES, 'hello', 'app.js'),
    rows: [
      { name: 'the hello page', path: '/api/' },
      { name: 'any path under a dynamic prefix', path: '/articles/anything?x=1' },
      { name: 'HEAD', method: 'HEAD', path: '/api/' },
      { name: 'a POST', method: 'POST', path: '/api/', headers: { 'Content-Type': 'text/plain' }, body: 'ignored' },
    ],
  },
  {
    name: 'examples/express',
    module: join(EXAMPLES, 'express', 'app.js'),
    rows: [
      { name: 'routing and a query', path: '/api/hello?name=Ada' },
      { name: 'the JSON body parser', method: 'POST', path: '/api/greetings', headers: { 'Content-Type': 'application/json' }, body: '{"name":"Grace"}' },
      { name: 'malformed JSON', method: 'POST', path: '/api/greetings', headers: { 'Content-Type': 'application/json' }, body: '{"name":' },
      { name: 'a cookie set', method: 'POST', path: '/api/login', headers: { 'Content-Type': 'application/json' }, body: '{"user":"ada"}' },
      { name: 'a cookie read', path: '/api/whoami', headers: { Cookie: 'user=ada' } },
      { name: 'a redirect', path: '/api/old-hello' },
      { name: 'a streamed response', path: '/api/count?to=500' },
      { name: 'no such route', path: '/api/nothing' },
    ],
  },
];

for (const app of APPS) {
  const seen = new Map<string, unknown[]>();
  for (const mode of MODES) {
    t.test(`${app.name}, ${mode.name}`, async (t) => {
      const base = await mode.start(t, app.module);
      const answers: unknown[] = [];
      for (const row of app.rows) {
        const reply = await send(`${base}${mode.prefix}${row.path}`, {
          method: row.method ?? 'GET', ...(row.headers === undefined ? {} : { headers: row.headers }), ...(row.body === undefined ? {} : { body: row.body }),
        });
        t.not(reply.status, 502, `${row.name}: answered by the application`);
        answers.push(essence(reply));
      }
      seen.set(mode.name, answers);
      if (app.name === 'examples/hello') t.same(answers[0], { status: 200, type: 'text/plain', cookie: undefined, location: undefined, etag: undefined, body: 'Hello world!\n' }, 'Hello world!');
    });
  }
  t.test(`${app.name}: the same answers in every mode`, async (t) => {
    const reference = seen.get(MODES[0]?.name ?? '');
    t.equal(seen.size, MODES.length, 'every mode ran');
    for (const [name, answers] of seen) {
      app.rows.forEach((row, index) => t.same(answers[index], reference?.[index], `${name}: ${row.name}`));
    }
  });
}
