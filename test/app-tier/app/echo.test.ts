import t from 'tap';
import { harness } from './fixture.js';
import { FRAGMENT_NOTE } from '../../../app-tier/app/views/urlparse.js';

t.test('GET /api/echo shows the request as received', async (t) => {
  const { send } = harness(t, { worker: { pid: 4242 } });
  const res = await send('/api/echo?a=%20b&c', { headers: { 'x-custom': 'one, two', accept: '*/*' } });
  t.equal(res.status, 200);
  t.equal(res.header('content-type'), 'application/json');
  t.equal(res.header('content-length'), String(Buffer.byteLength(res.text)));
  t.same(res.json(), {
    method: 'GET',
    url: '/api/echo?a=%20b&c',
    httpVersion: '1.1',
    headers: { host: 'app.test', 'x-custom': 'one, two', accept: '*/*' },
    body: '',
    bodyLength: 0,
    worker: { pid: 4242, address: '127.0.0.1', port: 3000 },
    // Issue 17: the inspector takes the URL it received apart (app-tier/app/url-parts.ts).
    urlParts: {
      url: 'http://app.test/api/echo?a=%20b&c', scheme: 'http', netloc: 'app.test', hostname: 'app.test', port: 80, defaultPort: true,
      username: null, password: null, path: '/api/echo', params: '', query: 'a=%20b&c',
      queryPairs: [{ name: 'a', value: ' b' }, { name: 'c', value: '' }], fragment: '', note: FRAGMENT_NOTE,
    },
  });
});

t.test('any method and any path under /api/echo/, body decoded as UTF-8 with its byte length', async (t) => {
  const { send } = harness(t);
  const res = await send('/api/echo/deeper/%2Fpath/?x=1', { method: 'PUT', body: 'héllo', headers: { 'content-type': 'text/plain' } });
  t.equal(res.status, 200);
  const echo = res.json();
  t.equal(echo.method, 'PUT');
  t.equal(echo.url, '/api/echo/deeper/%2Fpath/?x=1', 'the target is not decoded');
  t.equal(echo.body, 'héllo');
  t.equal(echo.bodyLength, 6);
  t.equal(echo.worker.pid, process.pid, 'defaults to this process');
  for (const method of ['POST', 'DELETE', 'PATCH', 'OPTIONS', 'BREW']) {
    const other = await send('/api/echo/', { method });
    t.equal(other.status, 200, method);
    t.equal(other.json().method, method);
  }
});

t.test('HEAD answers the same headers without a body; bytes that are not UTF-8 still echo', async (t) => {
  const { send } = harness(t);
  const get = await send('/api/echo');
  const head = await send('/api/echo', { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(head.text, '');
  t.ok(Number(head.header('content-length')) > 0);
  t.equal(get.header('content-type'), head.header('content-type'));
  const binary = await send('/api/echo', { method: 'POST', body: Uint8Array.from([0xff, 0x41]) });
  t.same([binary.json().body, binary.json().bodyLength], ['\ufffdA', 2]);
});

t.test('/api/echoes is not the echo', async (t) => {
  const { send } = harness(t);
  t.equal((await send('/api/echoes')).status, 404);
});

t.test('credentials are shown as arrived, never their values (issue 12.6: an HttpOnly cookie must not be readable by script)', async (t) => {
  const { send } = harness(t);
  const secrets = { authorization: 'Bearer tok-SECRET-1', cookie: 'sid=SECRET-2; csrf=SECRET-3', 'proxy-authorization': 'Basic U0VDUkVULTQ=' };
  const res = await send('/api/echo', { method: 'POST', headers: { ...secrets, 'x-custom': 'kept', accept: '*/*' }, body: 'body stays' });
  t.equal(res.status, 200);
  t.notMatch(res.text, /SECRET|U0VDUkVULTQ/, 'no credential value is reflected');
  const echo = res.json();
  t.same(echo.headers, {
    host: 'app.test',
    authorization: '[redacted, 19 bytes]',
    cookie: '[redacted, 27 bytes]',
    'proxy-authorization': '[redacted, 18 bytes]',
    'x-custom': 'kept',
    accept: '*/*',
  });
  t.equal(echo.body, 'body stays', 'the rest of the inspector is unchanged');
  const empty = await send('/api/echo', { headers: { cookie: '' } });
  t.equal(empty.json().headers.cookie, '[redacted, 0 bytes]', 'an empty field still shows that it arrived');
});
