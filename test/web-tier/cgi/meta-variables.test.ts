import t from 'tap';
import { loadConfig } from '../../../web-tier/config.js';
import { cgiKeysChanged } from '../../../web-tier/server-handlers.js';
import { withOverrides } from '../../helpers/web-tier.js';
import { makeCgiDir, parseEnv, send, startCgiServer, writeScript } from './helpers.js';

const ENV_SCRIPT = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nexec env\n";

t.test('every RFC 3875 §4.1 meta-variable for a request with path info, query and body', async (t) => {
  const cgiDir = makeCgiDir(t);
  writeScript(cgiDir, 'env.sh', ENV_SCRIPT);
  const { base, port } = await startCgiServer(t, { cgiDir, passEnv: { DATABASE_URL: 'sqlite:/tmp/x.db' } });
  const reply = await send(base, '/cgi-bin/env.sh/a%20b/caf%C3%A9/x%2Fy?q=1&r=%20', {
    method: 'POST',
    headers: { 'Content-Type': 'text/plain', Host: 'Example.TEST:8080', 'X-Custom': 'yes', Authorization: 'Bearer abc', 'X-Request-Id': 'client-chosen' },
    body: 'hello',
  });
  t.equal(reply.status, 200);
  t.equal(reply.headers['x-served-by'], 'cgi');
  const env = parseEnv(reply.body);
  t.equal(env['GATEWAY_INTERFACE'], 'CGI/1.1');
  t.equal(env['REQUEST_METHOD'], 'POST');
  t.equal(env['SCRIPT_NAME'], '/cgi-bin/env.sh');
  t.equal(env['PATH_INFO'], '/a b/café/x/y', 'PATH_INFO is decoded (RFC 3875 §4.1.5)');
  t.equal(env['PATH_TRANSLATED'], '/srv/www/a b/café/x/y');
  t.equal(env['QUERY_STRING'], 'q=1&r=%20', 'QUERY_STRING stays raw');
  t.equal(env['REQUEST_URI'], '/cgi-bin/env.sh/a%20b/caf%C3%A9/x%2Fy?q=1&r=%20');
  t.equal(env['CONTENT_LENGTH'], '5');
  t.equal(env['CONTENT_TYPE'], 'text/plain');
  t.equal(env['SERVER_NAME'], 'example.test', 'SERVER_NAME from the Host header');
  t.equal(env['SERVER_PORT'], String(port), 'SERVER_PORT is the port the request came in on');
  t.equal(env['SERVER_ADDR'], '127.0.0.1');
  t.equal(env['SERVER_PROTOCOL'], 'HTTP/1.1');
  t.equal(env['SERVER_SOFTWARE'], 'twotier');
  t.equal(env['REMOTE_ADDR'], '127.0.0.1');
  t.match(env['REMOTE_PORT'], /^\d+$/);
  t.equal(env['HTTP_X_CUSTOM'], 'yes');
  t.equal(env['HTTP_HOST'], 'Example.TEST:8080');
  t.equal(env['HTTP_AUTHORIZATION'], 'Bearer abc');
  t.equal(env['AUTH_TYPE'], 'Bearer');
  t.equal(env['HTTP_X_REQUEST_ID'], reply.headers['x-request-id'], 'the request id is the gateway\'s, not the client\'s');
  t.not(env['HTTP_X_REQUEST_ID'], 'client-chosen');
  t.notOk('HTTP_CONTENT_LENGTH' in env, 'Content-Length has its own variable');
  t.notOk('HTTP_CONTENT_TYPE' in env);
  t.equal(env['DATABASE_URL'], 'sqlite:/tmp/x.db', 'passEnv reaches the script');
  t.equal(env['PATH'], '/usr/local/bin:/usr/bin:/bin');
});

t.test('no path info, no query: QUERY_STRING defined and empty, PATH_TRANSLATED unset', async (t) => {
  const cgiDir = makeCgiDir(t);
  writeScript(cgiDir, 'env.sh', ENV_SCRIPT);
  const { base } = await startCgiServer(t, { cgiDir });
  const reply = await send(base, '/cgi-bin/env.sh', { headers: { Host: 'bad host!' } });
  const env = parseEnv(reply.body);
  t.equal(env['QUERY_STRING'], '');
  t.equal(env['PATH_INFO'], '');
  t.notOk('PATH_TRANSLATED' in env);
  t.notOk('CONTENT_LENGTH' in env, 'no body, no CONTENT_LENGTH (RFC 3875 §4.1.2)');
  t.notOk('CONTENT_TYPE' in env);
  t.equal(env['SERVER_NAME'], '127.0.0.1', 'an invalid Host falls back to the local address');
  t.equal(env['REQUEST_METHOD'], 'GET');
});

t.test('httpoxy, hop-by-hop and underscore headers are not passed; the server env does not leak', async (t) => {
  const cgiDir = makeCgiDir(t);
  writeScript(cgiDir, 'env.sh', ENV_SCRIPT);
  process.env['TWOTIER_TEST_SECRET'] = 'hunter2';
  t.teardown(() => delete process.env['TWOTIER_TEST_SECRET']);
  const { base } = await startCgiServer(t, { cgiDir });
  const reply = await send(base, '/cgi-bin/env.sh', {
    headers: { Proxy: 'http://evil.example:3128', Connection: 'close, X-Hop', 'X-Hop': 'secret', TE: 'trailers', 'Keep-Alive': 'timeout=5', X_Spoof: 'underscore', 'X-Kept': 'kept' },
  });
  const env = parseEnv(reply.body);
  t.notOk('HTTP_PROXY' in env, 'httpoxy: no HTTP_PROXY (CVE-2016-5385)');
  t.notOk('HTTP_X_HOP' in env, 'a field named by Connection is hop-by-hop');
  t.notOk('HTTP_CONNECTION' in env);
  t.notOk('HTTP_TE' in env);
  t.notOk('HTTP_KEEP_ALIVE' in env);
  t.notOk('HTTP_X_SPOOF' in env, 'names with underscores are dropped');
  t.equal(env['HTTP_X_KEPT'], 'kept');
  t.notOk(reply.body.includes('hunter2'), 'the server\'s own environment does not reach the script');
  t.notOk('HOME' in env);
  const allowed = /^(HTTP_[A-Z0-9_]+|GATEWAY_INTERFACE|REQUEST_METHOD|SCRIPT_NAME|PATH_INFO|QUERY_STRING|REQUEST_URI|SERVER_NAME|SERVER_ADDR|SERVER_PORT|SERVER_PROTOCOL|SERVER_SOFTWARE|REMOTE_ADDR|REMOTE_HOST|REMOTE_PORT|PATH|PWD)$/;
  // tap's processinfo wraps child_process.spawn and adds its own variables (and NODE_OPTIONS
  // pointing at its loader) to every child; those come from the test runner, not the gateway.
  const fromTap = (name: string): boolean => name.startsWith('_TAPJS_') || (name === 'NODE_OPTIONS' && /@tapjs/.test(env[name] ?? ''));
  t.same(Object.keys(env).filter((name) => !allowed.test(name) && !fromTap(name)), [], 'nothing but meta-variables and PATH');
});

t.test('every script gets the edge fields the proxy would set (issue 12: the three modes see the same fields)', async (t) => {
  const cgiDir = makeCgiDir(t);
  writeScript(cgiDir, 'env.sh', ENV_SCRIPT);
  const forged = {
    'X-Forwarded-For': '6.6.6.6', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'evil.example', 'X-Forwarded-Port': '443',
    'X-Real-IP': '6.6.6.6', Forwarded: 'for=6.6.6.6;proto=https', Via: '1.0 forged', Host: 'site.example:8080',
    // Connection may not strip a field the edge sets (headers.ts connectionMayName), only drop others.
    Connection: 'close, x-forwarded-for, x-real-ip, X-Hop', 'X-Hop': 'gone',
  };
  const untrusted = await startCgiServer(t, { cgiDir });
  const env = parseEnv((await send(untrusted.base, '/cgi-bin/env.sh', { headers: forged })).body);
  t.equal(env['REMOTE_ADDR'], '127.0.0.1', 'REMOTE_ADDR stays the peer');
  t.equal(env['HTTP_X_FORWARDED_FOR'], '127.0.0.1', 'the peer, not the client\'s claim');
  t.equal(env['HTTP_X_FORWARDED_PROTO'], 'http', 'a plain-http client cannot claim https');
  t.equal(env['HTTP_X_FORWARDED_HOST'], 'site.example:8080', 'the Host the edge received');
  t.equal(env['HTTP_X_REAL_IP'], '127.0.0.1');
  t.equal(env['HTTP_FORWARDED'], 'for=127.0.0.1;host="site.example:8080";proto=http', 'RFC 7239: this hop only');
  t.equal(env['HTTP_VIA'], '1.0 forged, 1.1 twotier-web', 'Via appended to (RFC 9110 §7.6.3)');
  t.notOk('HTTP_X_FORWARDED_PORT' in env, 'other X-Forwarded-* only from a trusted proxy');
  t.notOk('HTTP_X_HOP' in env, 'a field Connection may name is still hop-by-hop');
  t.notOk(JSON.stringify(env).includes('6.6.6.6'), 'no forged address anywhere');

  const trusted = await startCgiServer(t, { cgiDir, trustedProxies: ['127.0.0.1'] });
  const fromProxy = parseEnv((await send(trusted.base, '/cgi-bin/env.sh', { headers: forged })).body);
  t.equal(fromProxy['HTTP_X_FORWARDED_FOR'], '6.6.6.6, 127.0.0.1', 'a trusted proxy\'s chain is kept, then the peer');
  t.equal(fromProxy['HTTP_X_FORWARDED_PROTO'], 'https', 'a trusted proxy\'s proto is kept (issue 12 item 6)');
  t.equal(fromProxy['HTTP_X_REAL_IP'], '6.6.6.6', 'the client the per-client limits count');
  t.equal(fromProxy['HTTP_X_FORWARDED_PORT'], '443');
  t.equal(fromProxy['REMOTE_ADDR'], '127.0.0.1');
});

t.test('a reload that changes WEB_TRUSTED_PROXIES builds a new gateway with them', async (t) => {
  const config = loadConfig(undefined, {});
  t.ok(cgiKeysChanged(config, withOverrides(config, { server: { trustedProxies: ['10.0.0.1'] } })));
  t.notOk(cgiKeysChanged(config, { ...config }));
});

t.test('the body goes to stdin, also when chunked', async (t) => {
  const cgiDir = makeCgiDir(t);
  writeScript(cgiDir, 'cat.sh', "#!/bin/sh\nprintf 'Content-Type: application/octet-stream\\n\\n'\nprintf '%s|' \"$CONTENT_LENGTH\"\nexec cat\n");
  const { base } = await startCgiServer(t, { cgiDir });
  const fixed = await send(base, '/cgi-bin/cat.sh', { method: 'PUT', body: 'a body\nwith lines' });
  t.equal(fixed.body, '17|a body\nwith lines');
  const chunked = await send(base, '/cgi-bin/cat.sh', { method: 'POST', body: 'chunked!', chunked: true });
  t.equal(chunked.body, '8|chunked!', 'CONTENT_LENGTH is known for a chunked body too');
});

t.test('a body over the limit → 413, declared or chunked', async (t) => {
  const cgiDir = makeCgiDir(t);
  writeScript(cgiDir, 'cat.sh', "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nexec cat\n");
  const { base } = await startCgiServer(t, { cgiDir, maxBodyBytes: 10 });
  const atLimit = await send(base, '/cgi-bin/cat.sh', { method: 'POST', body: '0123456789' });
  t.equal(atLimit.status, 200);
  t.equal(atLimit.body, '0123456789');
  const declared = await send(base, '/cgi-bin/cat.sh', { method: 'POST', body: '0123456789x' });
  t.equal(declared.status, 413);
  t.equal(declared.headers.connection, 'close');
  const chunked = await send(base, '/cgi-bin/cat.sh', { method: 'POST', body: '0123456789x', chunked: true });
  t.equal(chunked.status, 413);
});
