/**
 * Path attacks sent as raw bytes over `net`: HTTP clients normalise "..", backslashes and NUL
 * before sending, so only a raw request shows what the server does with them.
 */
import t from 'tap';
import { makeFixtureRoot, raw, rawGet, startStatic, statusOf } from './helpers.js';

const ATTACKS = [
  '/../outside/secret.txt',
  '/../../../../etc/passwd',
  '/..%2f..%2foutside/secret.txt',
  '/%2e%2e/outside/secret.txt',
  '/%2E%2E%2Foutside%2Fsecret.txt',
  '/files/%2e%2e/%2e%2e/outside/secret.txt',
  '/%252e%252e/outside/secret.txt',
  '/..\\outside\\secret.txt',
  '/files\\..\\..\\outside\\secret.txt',
  '/%5c..%5coutside%5csecret.txt',
  '/hello.txt%00.png',
  '/%00',
  '/%c0%ae%c0%ae/outside/secret.txt',
  '/%c0%af..%c0%afoutside',
  '/%e0%80%ae%e0%80%ae/outside/secret.txt',
  '/%ff',
  '/./hello.txt',
  '/escape-dir/secret.txt',
  '/.env',
  '/%2eenv',
  '/.git/config',
  '/.git/',
];

t.test('traversal, encoded dots, backslashes, NUL and overlong UTF-8 never reach outside the root', async (t) => {
  const { root } = makeFixtureRoot(t);
  const { port } = await startStatic(t, { root });
  for (const target of ATTACKS) {
    const response = await rawGet(port, target);
    const status = statusOf(response);
    t.ok([400, 403, 404].includes(status), `${target} → ${status}`);
    t.notMatch(response, /outside the root|SECRET=|root:x:0|\[core\]/, `${target}: no foreign content`);
    t.notMatch(response, root, `${target}: no file-system path in the answer`);
  }
});

t.test('a raw NUL byte or a control character in the target is refused', async (t) => {
  const { root } = makeFixtureRoot(t);
  const { port } = await startStatic(t, { root });
  // Node's parser itself rejects these; either way nothing is served.
  t.equal(statusOf(await raw(port, 'GET /hello.txt\u0000.png HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')), 400);
  t.equal(statusOf(await rawGet(port, '/%01hello.txt')), 400);
});

t.test('the directory redirect ignores Host and cannot be made protocol-relative', async (t) => {
  const { root } = makeFixtureRoot(t);
  const { port } = await startStatic(t, { root });
  const response = await raw(port, 'GET //docs HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n');
  t.equal(statusOf(response), 301);
  t.match(response, /\r\nLocation: \/docs\/\r\n/);
  t.notMatch(response, /evil\.example/);
  const backslash = await raw(port, 'GET /\\evil.example HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  t.equal(statusOf(backslash), 400, 'a backslash never becomes a redirect');
});

t.test('keep-alive: static answers and refusals in order on one connection', async (t) => {
  const { root } = makeFixtureRoot(t);
  const { port } = await startStatic(t, { root });
  const response = await raw(
    port,
    'GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n' +
      'GET /..%2f..%2fetc/passwd HTTP/1.1\r\nHost: x\r\n\r\n' +
      'HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n' +
      'GET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  );
  const statuses = [...response.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((match) => Number(match[1]));
  t.same(statuses, [200, 400, 200, 404]);
});
