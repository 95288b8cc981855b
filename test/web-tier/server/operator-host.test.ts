/**
 * Issue 12 item 5: a page on a DNS-rebinding name (attacker.example resolving to 127.0.0.1) in a
 * browser on the box reaches the web tier from loopback with `Host: attacker.example`. The
 * operator endpoints answer only a Host that is a loopback name, an IP literal or one of
 * WEB_OPERATOR_HOSTS; any other Host gets 421 (RFC 9110 §15.5.20), the peer check still first.
 */
import t from 'tap';
import { rawExchange, type RawExchange } from '../../helpers/raw-http.js';
import { fakeHandlers, startWeb, withOverrides } from '../../helpers/web-tier.js';
import { startHarness } from '../operator/harness.js';

const HOSTILE = ['attacker.example:8080', 'attacker.example', '127.0.0.1.nip.io', 'localhost.attacker.example', 'notlocalhost', 'ops.example.net.attacker.example', 'xn--localhost-abc'];

t.test('operator endpoints refuse a Host that is not loopback, an IP literal or WEB_OPERATOR_HOSTS (DNS rebinding)', async (t) => {
  let reloads = 0;
  const { port, log } = await startWeb(t, {
    handlers: fakeHandlers(),
    env: { WEB_OPERATOR_HOSTS: 'ops.example.net' },
    onReloadRequest: async () => {
      reloads += 1;
      return { ok: true, applied: [], needRestart: [] };
    },
  });
  const get = (target: string, host: string): Promise<RawExchange> =>
    rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nAccept: application/json\r\n\r\n`, { responses: 1, timeoutMs: 5_000 });
  const reload = (host: string): Promise<RawExchange> =>
    rawExchange(port, `POST /-/reload HTTP/1.1\r\nHost: ${host}\r\nX-Twotier-Reload: 1\r\nAccept: application/json\r\nContent-Length: 0\r\n\r\n`, { responses: 1, timeoutMs: 5_000 });

  for (const host of HOSTILE) {
    for (const target of ['/-/status.json', '/-/status', '/-/metrics', '/-/status/events', '/-/status.js']) {
      const answer = (await get(target, host)).responses[0];
      t.equal(answer?.status, 421, `${target} with Host ${host}`);
      t.match(JSON.parse(answer?.body ?? '{}'), { error: { code: 'WEB_ERR_MISDIRECTED' } });
      t.notMatch(answer?.body, /twotier_web|"upstreams"|<html/i, 'nothing of the operator data leaks');
    }
    t.equal((await reload(host)).responses[0]?.status, 421, `POST /-/reload with Host ${host}`);
  }
  t.equal(reloads, 0, 'no hostile Host reloaded the config');

  const absolute = await rawExchange(port, 'GET http://attacker.example:8080/-/status.json HTTP/1.1\r\nHost: attacker.example:8080\r\n\r\n', { responses: 1, timeoutMs: 5_000 });
  t.equal(absolute.responses[0]?.status, 421, 'absolute-form naming the rebinding host');

  // HTTP/1.0 may omit Host; a browser never does, but a request that names no host is not an operator's either.
  const bare = await rawExchange(port, 'GET /-/status.json HTTP/1.0\r\n\r\n', { timeoutMs: 5_000 });
  t.equal(bare.responses[0]?.status, 421, 'HTTP/1.0 without Host is refused');

  const accepted = ['localhost', 'localhost:8080', 'LOCALHOST', 'localhost.', 'status.localhost:9', '127.0.0.1', `127.0.0.1:${port}`, '127.9.9.9', '[::1]', '[::1]:8080', '10.0.0.5:8080', '[2001:db8::1]', 'ops.example.net', 'OPS.Example.Net:443'];
  for (const host of accepted) {
    const answer = (await get('/-/status.json', host)).responses[0];
    t.equal(answer?.status, 200, `Host ${host} is answered`);
  }
  t.equal((await get('/-/metrics', 'localhost')).responses[0]?.status, 200);
  t.equal((await get('/-/status', '127.0.0.1')).responses[0]?.status, 200);
  const reloaded = await reload('localhost:8080');
  t.equal(reloaded.responses[0]?.status, 200, 'a loopback Host may reload');
  t.equal(reloads, 1);

  const refusals = log.lines().filter((line) => line['code'] === 'WEB_ERR_MISDIRECTED' && line['msg'] !== 'request');
  t.ok(refusals.length > 0, 'each refusal is logged with its code');
});

t.test('the peer allow-list still comes first: a loopback Host from a peer outside WEB_OPERATOR_ALLOW is 403', async (t) => {
  const { port } = await startWeb(t, { handlers: fakeHandlers(), env: { WEB_OPERATOR_ALLOW: '10.0.0.0/8', WEB_OPERATOR_HOSTS: 'ops.example.net' } });
  const answer = await rawExchange(port, 'GET /-/status.json HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n\r\n', { responses: 1, timeoutMs: 5_000 });
  t.equal(answer.responses[0]?.status, 403);
  const hostile = await rawExchange(port, 'GET /-/status.json HTTP/1.1\r\nHost: attacker.example\r\nAccept: application/json\r\n\r\n', { responses: 1, timeoutMs: 5_000 });
  t.equal(hostile.responses[0]?.status, 403, 'a refused peer learns nothing about the Host rule');
});

t.test('WEB_OPERATOR_HOSTS is applied on reload, like WEB_OPERATOR_ALLOW', async (t) => {
  const started = await startWeb(t, { handlers: fakeHandlers() });
  const ask = (): Promise<RawExchange> =>
    rawExchange(started.port, 'GET /-/status.json HTTP/1.1\r\nHost: ops.example.net\r\n\r\n', { responses: 1, timeoutMs: 5_000 });
  t.equal((await ask()).responses[0]?.status, 421, 'not configured: refused');
  await started.web.reload(withOverrides(started.config, { operator: { hosts: ['ops.example.net'] } }));
  t.equal((await ask()).responses[0]?.status, 200, 'configured by a reload: answered');
});

t.test('the operator handler on its own (no server.ts in front) applies the same Host rule by default', async (t) => {
  const harness = await startHarness(t);
  const port = Number(new URL(harness.url).port);
  const ask = (host: string): Promise<RawExchange> =>
    rawExchange(port, `GET /-/status.json HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, { timeoutMs: 5_000 });
  t.equal((await ask('attacker.example')).responses[0]?.status, 421);
  t.equal((await ask('localhost:1')).responses[0]?.status, 200);
  t.equal((await ask('127.0.0.1')).responses[0]?.status, 200);
});
