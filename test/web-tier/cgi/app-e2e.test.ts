/**
 * The shipped scripts through the gateway: web-tier/cgi-bin/app runs the real application
 * (compiled: `npm test` builds first) in a new process per request, hello.sh is a bare shell.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { defaultCgiDir, packageRoot } from '../../../web-tier/cgi/resolve-script.js';
import { makeCgiDir, send, startCgiServer } from './helpers.js';

interface Echo {
  method: string;
  url: string;
  httpVersion: string;
  headers: Record<string, string>;
  body: string;
  bodyLength: number;
  worker: { pid: number; address: string; port: number };
}

const compiled = join(packageRoot(), 'dist', 'app-tier', 'cgi-main.js');

t.test('the application as CGI: the echo contract from a fresh process each time, articles in the store', { skip: existsSync(compiled) ? false : 'not built: run `npm run build` (npm test does)' }, async (t) => {
  const dataDir = makeCgiDir(t);
  const { base, port } = await startCgiServer(t, {
    cgiDir: defaultCgiDir(),
    timeoutMs: 20_000,
    passEnv: { DATABASE_URL: `sqlite:${join(dataDir, 'twotier.db')}`, NODE: process.execPath },
  });

  const first = await send(base, '/cgi-bin/app/api/echo?x=1&y=%20', { headers: { 'X-Custom': 'one' } });
  t.equal(first.status, 200);
  t.match(first.headers['content-type'], /^application\/json/);
  const echo = JSON.parse(first.body) as Echo;
  t.equal(echo.method, 'GET');
  t.equal(echo.url, '/api/echo?x=1&y=%20', 'the app sees its own path, SCRIPT_NAME stripped, query byte-identical');
  t.equal(echo.httpVersion, '1.1');
  t.equal(echo.headers['x-custom'], 'one');
  t.equal(echo.headers['x-request-id'], first.headers['x-request-id'], 'one request id end to end');
  t.equal(echo.worker.address, '127.0.0.1');
  t.equal(echo.worker.port, port);

  const second = await send(base, '/cgi-bin/app/api/echo/more%20path', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'héllo' });
  const echo2 = JSON.parse(second.body) as Echo;
  t.equal(echo2.url, '/api/echo/more%20path');
  t.equal(echo2.body, 'héllo');
  t.equal(echo2.bodyLength, 6);
  t.not(echo2.worker.pid, echo.worker.pid, 'a new process for every request');

  const created = await send(base, '/cgi-bin/app/api/articles/', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ title: 'Written through CGI', body: 'One process per request.', published: '2003-05-17T10:00:00.000Z' }),
  });
  t.equal(created.status, 201);
  const location = created.headers.location ?? '';
  t.match(location, /^\/api\/articles\/\d+\/$/, '201 with Location, passed on (not followed: it has a Status)');
  const read = await send(base, `/cgi-bin/app${location}`);
  t.equal(read.status, 200);
  t.equal((JSON.parse(read.body) as { title: string }).title, 'Written through CGI', 'the next process reads what the last one wrote');

  const missing = await send(base, '/cgi-bin/app/api/articles/999999/', { headers: { Accept: 'application/json' } });
  t.equal(missing.status, 404, 'the application\'s own statuses come through');
});

t.test('hello.sh, the cheapest CGI program', async (t) => {
  const { base } = await startCgiServer(t, { cgiDir: defaultCgiDir() });
  const reply = await send(base, '/cgi-bin/hello.sh/x');
  t.equal(reply.status, 200);
  t.match(reply.body, /^Hello from CGI process \d+ \(GET \/cgi-bin\/hello\.sh\/x\)/);
});
