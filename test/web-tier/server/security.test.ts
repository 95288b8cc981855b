/**
 * Security defaults (issue 6): operator endpoints for allowed peers only, server names (421),
 * never an open proxy, no secret in a log line, 505 for a request line of another major version.
 */
import t from 'tap';
import { Writable } from 'node:stream';
import { createLogger, prettyWanted } from '../../../common/logger.js';
import { createPeerAllow, parseCidr } from '../../../web-tier/peer-allow.js';
import { rawExchange } from '../../helpers/raw-http.js';
import { fakeHandlers, startWeb } from '../../helpers/web-tier.js';

t.test('operator endpoints: loopback by default, metrics move; WEB_OPERATOR_ALLOW replaces the default', async (t) => {
  const handlers = fakeHandlers();
  const { port, log } = await startWeb(t, { handlers });
  await rawExchange(port, 'GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n', { responses: 1 });
  const metrics = await rawExchange(port, 'GET /-/metrics HTTP/1.1\r\nHost: localhost\r\n\r\n', { responses: 1 });
  t.equal(metrics.responses[0]?.status, 200, 'a loopback peer gets the metrics');
  t.equal(metrics.responses[0]?.headers['x-served-by'], 'web');
  t.match(metrics.responses[0]?.body, /twotier_web_requests_total\{route="static",method="GET",status="200"\} 1\b/, 'the static request was counted');
  const status = await rawExchange(port, 'GET /-/status.json HTTP/1.1\r\nHost: localhost\r\n\r\n', { responses: 1 });
  t.equal(status.responses[0]?.status, 200);
  t.match(JSON.parse(status.responses[0]?.body ?? '{}'), { web: { dynamic: 'proxy', pid: process.pid } });
  t.equal(handlers.static.calls.length, 1, '/-/… never reaches the static handler');
  const lines = await log.waitForAccessLines(3);
  t.match(lines[1], { url: '/-/metrics', tier: 'web', status: 200 });

  const closed = await startWeb(t, { handlers: fakeHandlers(), env: { WEB_OPERATOR_ALLOW: '10.0.0.0/8, 192.168.1.7' } });
  const refused = await rawExchange(closed.port, 'GET /-/metrics HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n\r\n', { responses: 1 });
  t.equal(refused.responses[0]?.status, 403, 'a peer outside the list (here loopback itself) is refused');
  t.match(JSON.parse(refused.responses[0]?.body ?? '{}'), { error: { code: 'WEB_ERR_FORBIDDEN' } });
  t.notMatch(refused.responses[0]?.body, /twotier_web/, 'nothing of the metrics leaks');
});

t.test('peer allow-list: addresses and CIDR blocks, IPv4-mapped peers, IPv6', async (t) => {
  t.same(parseCidr('10.0.0.0/8'), { address: '10.0.0.0', prefix: 8, family: 'ipv4' });
  t.same(parseCidr('::1'), { address: '::1', prefix: 128, family: 'ipv6' });
  t.equal(parseCidr('10.0.0.0/33'), undefined);
  t.equal(parseCidr('example.com'), undefined);
  t.equal(parseCidr('10.0.0.0/8/1'), undefined);
  const allow = createPeerAllow(['127.0.0.0/8', '::1/128', '10.1.0.0/16']);
  t.ok(allow('127.0.0.1'));
  t.ok(allow('::ffff:127.0.0.1'), 'an IPv4-mapped loopback peer');
  t.ok(allow('::1'));
  t.ok(allow('10.1.200.3'));
  t.notOk(allow('10.2.0.1'));
  t.notOk(allow('192.168.0.1'));
  t.notOk(allow(''), 'an unknown peer is refused');
});

t.test('WEB_SERVER_NAMES: another Host or absolute-form authority → 421; a configured one is served', async (t) => {
  const handlers = fakeHandlers();
  const { port } = await startWeb(t, { handlers, env: { WEB_SERVER_NAMES: 'www.example' } });
  const other = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n', { timeoutMs: 2_000 });
  t.equal(other.responses[0]?.status, 421);
  const named = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: WWW.example:8080\r\n\r\n', { responses: 1 });
  t.equal(named.responses[0]?.status, 200, 'names are case-insensitive, the port is not part of the name');
  const absolute = await rawExchange(port, 'GET http://evil.example/api/x HTTP/1.1\r\nHost: www.example\r\n\r\n', { timeoutMs: 2_000 });
  t.equal(absolute.responses[0]?.status, 421, 'an absolute-form target for another host is refused');
  t.equal(handlers.app.calls.length, 0, 'and reaches no handler');
});

t.test('a request line of another major version → 505 (RFC 9110 §15.6.6)', async (t) => {
  const { port } = await startWeb(t, { handlers: fakeHandlers() });
  const answer = await rawExchange(port, 'GET / HTTP/2.0\r\nHost: a\r\nAccept: application/json\r\n\r\n', { timeoutMs: 2_000 });
  t.equal(answer.responses[0]?.status, 505);
  t.match(answer.responses[0]?.body, /WEB_ERR_HTTP_VERSION/);
});

t.test('secrets never reach a log line', async (t) => {
  let text = '';
  const sink = new Writable({ write(chunk: Buffer, _encoding, callback) { text += chunk.toString(); callback(); } });
  const logger = createLogger({ tier: 'web', level: 'info', destination: sink });
  logger.info({ config: { appToken: 'tok-SECRET-1', databaseUrl: 'postgres://u:pw-SECRET-2@db/x' }, env: { APP_TOKEN: 'tok-SECRET-3', DATABASE_URL: 'postgres://u:pw-SECRET-4@db/x' } }, 'config');
  logger.info({ req: { headers: { authorization: 'Bearer SECRET-5', cookie: 'sid=SECRET-6' } } }, 'request');
  logger.child({ reqId: 'r1' }).info({ headers: { authorization: 'Bearer SECRET-7' }, store: { password: 'SECRET-8' } }, 'child');
  t.notMatch(text, /SECRET/, 'every secret is censored');
  t.match(text, /\[redacted\]/);
  const first = JSON.parse(text.split('\n')[0] ?? '{}') as Record<string, unknown>;
  t.match(first, { service: 'web', pid: process.pid }, 'the base names the service, not the answering tier');
});

t.test('LOG_PRETTY: 1 forces readable lines, 0 forces JSON, unset follows the TTY', async (t) => {
  t.equal(prettyWanted('1', false), true);
  t.equal(prettyWanted('true', false), true);
  t.equal(prettyWanted('0', true), false);
  t.equal(prettyWanted(undefined, true), true);
  t.equal(prettyWanted(undefined, false), false);
  t.equal(prettyWanted(undefined, undefined), false);
});

t.test('POST /-/reload: allowed peers, POST with X-Twotier-Reload: 1 only; answers with the outcome', async (t) => {
  const none = await startWeb(t, { handlers: fakeHandlers() });
  const absent = await rawExchange(none.port, 'POST /-/reload HTTP/1.1\r\nHost: localhost\r\nX-Twotier-Reload: 1\r\nContent-Length: 0\r\n\r\n', { responses: 1 });
  t.equal(absent.responses[0]?.status, 404, 'no entry point, no reload');

  let calls = 0;
  let valid = true;
  const { port } = await startWeb(t, {
    handlers: fakeHandlers(),
    onReloadRequest: async () => {
      calls += 1;
      return valid ? { ok: true, applied: ['upstreams'], needRestart: [] } : { ok: false, key: 'APP_UPSTREAMS', reason: 'APP_UPSTREAMS: must be an http:// base URL' };
    },
  });
  const send = (head: string): Promise<import('../../helpers/raw-http.js').RawExchange> =>
    rawExchange(port, `${head}Host: localhost\r\nAccept: application/json\r\nContent-Length: 0\r\n\r\n`, { responses: 1 });
  const viaGet = await send('GET /-/reload HTTP/1.1\r\n');
  t.equal(viaGet.responses[0]?.status, 405);
  t.equal(viaGet.responses[0]?.headers['allow'], 'POST');
  const noHeader = await send('POST /-/reload HTTP/1.1\r\n');
  t.equal(noHeader.responses[0]?.status, 403, 'a plain form post (what a hostile page could make a browser send) is refused');
  t.equal(calls, 0);
  const ok = await send('POST /-/reload HTTP/1.1\r\nX-Twotier-Reload: 1\r\n');
  t.equal(ok.responses[0]?.status, 200);
  t.same(JSON.parse(ok.responses[0]?.body ?? '{}'), { reloaded: true, applied: ['upstreams'], needRestart: [] });
  valid = false;
  const bad = await send('POST /-/reload HTTP/1.1\r\nX-Twotier-Reload: 1\r\n');
  t.equal(bad.responses[0]?.status, 400);
  t.match(JSON.parse(bad.responses[0]?.body ?? '{}'), { error: { code: 'CONFIG_INVALID', key: 'APP_UPSTREAMS' } });
  t.equal(calls, 2);

  const closed = await startWeb(t, { handlers: fakeHandlers(), env: { WEB_OPERATOR_ALLOW: '10.0.0.0/8' }, onReloadRequest: async () => ({ ok: true, forwarded: true }) });
  const refused = await rawExchange(closed.port, 'POST /-/reload HTTP/1.1\r\nHost: localhost\r\nX-Twotier-Reload: 1\r\nContent-Length: 0\r\n\r\n', { responses: 1 });
  t.equal(refused.responses[0]?.status, 403, 'a peer outside operatorAllow cannot reload');
});
