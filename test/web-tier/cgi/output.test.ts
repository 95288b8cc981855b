import t from 'tap';
import { makeCgiDir, parseEnv, send, startCgiServer, writeScript } from './helpers.js';

/** A shell script that prints `output` as a printf format (so \n, \r and %% are escapes) and exits with `code`. */
function printing(output: string, code = 0): string {
  return `#!/bin/sh\nprintf '${output}'\nexit ${code}\n`;
}

t.test('Status, Content-Type and other fields reach the client; the body is streamed after the blank line', async (t) => {
  const cgiDir = makeCgiDir(t);
  writeScript(cgiDir, 'created.sh', printing('Status: 201 Created\\r\\nContent-Type: application/json\\r\\nLocation: /api/things/7/\\r\\nSet-Cookie: a=1\\r\\nSet-Cookie: b=2\\r\\nConnection: keep-alive\\r\\n\\r\\n{"id":7}'));
  writeScript(cgiDir, 'lf.sh', printing('Content-Type: text/plain\\nX-Thing: one\\n\\nline one\\nline two\\n'));
  const { base } = await startCgiServer(t, { cgiDir });
  const created = await send(base, '/cgi-bin/created.sh', { method: 'POST', body: '' });
  t.equal(created.status, 201);
  t.equal(created.statusMessage, 'Created');
  t.equal(created.headers['content-type'], 'application/json');
  t.equal(created.headers.location, '/api/things/7/', 'Location with a Status is passed on, not followed');
  t.same(created.headers['set-cookie'], ['a=1', 'b=2'], 'repeated fields stay separate');
  t.equal(created.body, '{"id":7}');
  t.match(created.headers['x-request-id'], /.+/);
  const lf = await send(base, '/cgi-bin/lf.sh');
  t.equal(lf.status, 200, 'no Status means 200');
  t.equal(lf.headers['x-thing'], 'one', 'bare LF line ends are accepted (RFC 3875 §6.3: NL)');
  t.equal(lf.body, 'line one\nline two\n');
  const head = await send(base, '/cgi-bin/lf.sh', { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(head.body, '', 'HEAD: the script\'s body is not sent');
});

t.test('an absolute Location without Status is a client redirect: 302 (RFC 3875 §6.2.3)', async (t) => {
  const cgiDir = makeCgiDir(t);
  writeScript(cgiDir, 'away.sh', printing('Location: https://example.org/elsewhere\\n\\n'));
  writeScript(cgiDir, 'moved.sh', printing('Status: 301 Moved Permanently\\nLocation: https://example.org/new\\nContent-Type: text/plain\\n\\nmoved'));
  const { base } = await startCgiServer(t, { cgiDir });
  const away = await send(base, '/cgi-bin/away.sh');
  t.equal(away.status, 302);
  t.equal(away.headers.location, 'https://example.org/elsewhere');
  const moved = await send(base, '/cgi-bin/moved.sh');
  t.equal(moved.status, 301);
  t.equal(moved.headers.location, 'https://example.org/new');
  t.equal(moved.body, 'moved');
});

t.test('a local Location is served in place as a GET (RFC 3875 §6.2.2)', async (t) => {
  const cgiDir = makeCgiDir(t);
  writeScript(cgiDir, 'env.sh', "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nexec env\n");
  writeScript(cgiDir, 'go.sh', printing('Location: /cgi-bin/env.sh/next%%20step?from=go\\n\\nignored body'));
  writeScript(cgiDir, 'loop.sh', printing('Location: /cgi-bin/loop.sh\\n\\n'));
  writeScript(cgiDir, 'static.sh', printing('Location: /index.html?x=1\\n\\n'));
  writeScript(cgiDir, 'missing.sh', printing('Location: /cgi-bin/nope.sh\\n\\n'));
  writeScript(cgiDir, 'evil.sh', printing('Location: //evil.example/\\n\\n'));
  const { base, sink } = await startCgiServer(t, { cgiDir });

  const followed = await send(base, '/cgi-bin/go.sh', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'form' });
  t.equal(followed.status, 200, 'the client never sees the redirect');
  const env = parseEnv(followed.body);
  t.equal(env['SCRIPT_NAME'], '/cgi-bin/env.sh');
  t.equal(env['PATH_INFO'], '/next step');
  t.equal(env['QUERY_STRING'], 'from=go');
  t.equal(env['REQUEST_METHOD'], 'GET', 'the redirected request is a GET');
  t.notOk('CONTENT_LENGTH' in env, 'without the original body');

  const loop = await send(base, '/cgi-bin/loop.sh');
  t.equal(loop.status, 502, 'a redirect loop is cut off');
  t.ok(sink.lines.some((line) => line.msg === 'cgi request failed' && line['code'] === 'WEB_ERR_UPSTREAM_BAD_RESPONSE'));

  const elsewhere = await send(base, '/cgi-bin/static.sh');
  t.equal(elsewhere.status, 302, 'without a dispatcher, a local path outside /cgi-bin/ becomes a same-origin redirect');
  t.equal(elsewhere.headers.location, '/index.html?x=1');

  const missing = await send(base, '/cgi-bin/missing.sh');
  t.equal(missing.status, 404);

  const evil = await send(base, '/cgi-bin/evil.sh');
  t.equal(evil.status, 502, '//host is not a local path and is not passed on as a redirect');
});

t.test('a local redirect outside /cgi-bin/ goes to the server\'s dispatcher when there is one', async (t) => {
  const cgiDir = makeCgiDir(t);
  writeScript(cgiDir, 'static.sh', printing('Location: /index.html?x=1\\n\\n'));
  const seen: string[] = [];
  const { base } = await startCgiServer(t, {
    cgiDir,
    onLocalRedirect: (_req, res, ctx) => {
      seen.push(`${ctx.pathname}${ctx.search}`);
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('static page');
    },
  });
  const reply = await send(base, '/cgi-bin/static.sh');
  t.equal(reply.status, 200);
  t.equal(reply.body, 'static page');
  t.same(seen, ['/index.html?x=1']);
});

t.test('malformed output → 502 with the request id; stderr goes to the log, not the client', async (t) => {
  const cgiDir = makeCgiDir(t);
  const cases: Record<string, string> = {
    'nothing.sh': '#!/bin/sh\nexit 0\n',
    'fails.sh': '#!/bin/sh\necho "db password is hunter2" >&2\nexit 3\n',
    'no-blank.sh': printing('Content-Type: text/plain\\n'),
    'no-colon.sh': printing('this is not a header\\n\\nbody'),
    'folded.sh': printing('Content-Type: text/plain\\nX-A: one\\n  two\\n\\nbody'),
    'bad-status.sh': printing('Status: two hundred\\nContent-Type: text/plain\\n\\n'),
    'informational.sh': printing('Status: 100 Continue\\n\\n'),
    'untyped.sh': printing('X-Only: this\\n\\nbody'),
    'relative.sh': printing('Location: elsewhere\\n\\n'),
    'blank-first.sh': printing('\\nbody without headers'),
  };
  for (const [name, text] of Object.entries(cases)) writeScript(cgiDir, name, text);
  const { base, sink } = await startCgiServer(t, { cgiDir });
  for (const name of Object.keys(cases)) {
    const reply = await send(base, `/cgi-bin/${name}`, { headers: { Accept: 'application/json' } });
    t.equal(reply.status, 502, `${name} → 502`);
    const requestId = reply.headers['x-request-id'];
    t.match(reply.body, String(requestId), `${name}: the body names the request id`);
    t.notMatch(reply.body, /hunter2|sh:|\/tmp\//, `${name}: no script output or path reaches the client`);
  }
  const stderr = await sink.waitFor((line) => line.msg === 'cgi script stderr');
  t.equal(stderr['stderr'], 'db password is hunter2', 'stderr is logged');
  t.match(stderr.reqId, /.+/, 'with the request id');
});

t.test('a Content-Length from the script is held to: extra bytes dropped, missing bytes cut the connection', async (t) => {
  const cgiDir = makeCgiDir(t);
  writeScript(cgiDir, 'long.sh', printing('Content-Type: text/plain\\nContent-Length: 3\\n\\nabcdef'));
  writeScript(cgiDir, 'short.sh', printing('Content-Type: text/plain\\nContent-Length: 10\\n\\nabc'));
  const { base } = await startCgiServer(t, { cgiDir });
  const long = await send(base, '/cgi-bin/long.sh');
  t.equal(long.body, 'abc');
  await t.rejects(send(base, '/cgi-bin/short.sh'), 'a body shorter than declared is an aborted response');
});
