/**
 * WebSocket upgrades through the web tier (issue 16): a real `ws` client through the real
 * server (pipeline, proxy) to a `ws` echo upstream; the edge's header rules on the handshake;
 * the clear refusals (static path, another protocol, CGI mode, an app without upgrades).
 */
import t from 'tap';
import { createEmbeddedHandler } from '../../../web-tier/embedded.js';
import { closed, connect, handshakeHead, rawUpgrade, roundTrip, startWebFor, startWsUpstream } from './upgrade-helpers.js';
import { startWeb } from '../../helpers/web-tier.js';

t.test('a ws client talks through the web tier to the app upstream', async (t) => {
  const upstream = await startWsUpstream(t);
  const { port, log } = await startWebFor(t, upstream.url);
  const opened = await connect(t, port, '/api/live?room=1', { headers: { 'X-Forwarded-For': '6.6.6.6', 'X-Real-IP': '6.6.6.6' } });
  if (opened.kind !== 'open') throw new Error(`handshake ended ${JSON.stringify(opened)}`);
  t.equal(opened.headers['x-served-by'], 'app', 'the 101 is stamped like any app response');
  t.type(opened.headers['x-request-id'], 'string');
  t.equal(await roundTrip(opened.socket, 'hello'), 'hello');
  // A message larger than a socket buffer, both ways (pipe's back-pressure carries it).
  const big = 'x'.repeat(1024 * 1024);
  t.equal((await roundTrip(opened.socket, big)).length, big.length);

  const seen = upstream.handshakes[0];
  t.ok(seen !== undefined, 'the upstream saw the handshake');
  t.equal(seen?.url, '/api/live?room=1', 'path and query as sent');
  t.equal(seen?.headers.upgrade, 'websocket');
  t.match(seen?.headers.connection ?? '', /upgrade/i);
  t.equal(seen?.headers['x-forwarded-for'], '127.0.0.1', "the client's own X-Forwarded-For is replaced (untrusted peer)");
  t.equal(seen?.headers['x-real-ip'], '127.0.0.1');
  t.equal(seen?.headers['x-forwarded-proto'], 'http');
  t.equal(seen?.headers['x-request-id'], opened.headers['x-request-id'], 'the same request id both ways');
  t.match(seen?.headers.via ?? '', /twotier-web/);
  t.equal(seen?.headers.host, `127.0.0.1:${port}`, 'Host as the client sent it');

  opened.socket.close(1000, 'bye');
  t.equal(await closed(opened.socket), 1000, 'the close handshake passes through');
  const [line] = (await log.waitForAccessLines(1)).filter((entry) => entry['url'] === '/api/live?room=1');
  t.equal(line?.['status'], 101, 'one access line for the handshake, status 101');
  t.equal(line?.['upstream'], upstream.url);
  t.notOk(line?.['aborted']);
});

t.test('an upgrade on a static path is a clear 400, never a hang', async (t) => {
  const upstream = await startWsUpstream(t);
  const { port } = await startWebFor(t, upstream.url);
  const answer = await rawUpgrade(port, handshakeHead('/index.html'));
  t.match(answer, /^HTTP\/1\.1 400 /, '400');
  t.match(answer, /Connection: close/i);
  t.match(answer, /not served by the application/, 'the body says why');
  t.equal(upstream.handshakes.length, 0, 'nothing reached the app');
  const health = await rawUpgrade(port, handshakeHead('/healthz'));
  t.match(health, /^HTTP\/1\.1 400 /, 'health path: 400 as well');
});

t.test('an Upgrade to another protocol is ignored (RFC 9110 §7.8); a websocket handshake that is not GET is a 400', async (t) => {
  const upstream = await startWsUpstream(t);
  const { port } = await startWebFor(t, upstream.url);
  const h2c = await rawUpgrade(port, handshakeHead('/index.html', ['HTTP2-Settings: AAMAAABkAAQAAP__'], 'h2c'));
  t.match(h2c, /^HTTP\/1\.1 200 /, 'curl --http2 gets its page over HTTP/1.1');
  t.match(h2c, /Connection: close/i, 'and the connection closes after it');
  const post = await rawUpgrade(port, handshakeHead('/api/live').replace(/^GET/, 'POST'));
  t.match(post, /^HTTP\/1\.1 400 /, 'a websocket handshake is a GET (RFC 6455 §4.1)');
  t.match(post, /Only WebSocket upgrades/);
  t.equal(upstream.handshakes.length, 0);
});

t.test('WEB_DYNAMIC=cgi answers an upgrade 501, saying why', async (t) => {
  const { port } = await startWeb(t, { env: { WEB_DYNAMIC: 'cgi' } });
  const answer = await rawUpgrade(port, handshakeHead('/api/live'));
  t.match(answer, /^HTTP\/1\.1 501 /);
  t.match(answer, /one process per request/, 'the body says why');
});

t.test('embedded mode without an upgrade hook answers 501', async (t) => {
  const app = { handle: async () => ({ status: 200, headers: {}, body: '' }), close: async () => undefined };
  const embedded = createEmbeddedHandler({ app: app as never, logger: (await import('../../../common/logger.js')).createLogger({ tier: 'web', level: 'silent' }) });
  const { port } = await startWeb(t, { env: { WEB_DYNAMIC: 'embedded' }, handlers: { app: { ...embedded, upgrade: undefined } } });
  const answer = await rawUpgrade(port, handshakeHead('/api/live'));
  t.match(answer, /^HTTP\/1\.1 501 /);
});

t.test('embedded mode hands the socket to the hook', async (t) => {
  let hooked = 0;
  const handler = {
    handle: () => undefined,
    close: async () => undefined,
    upgrade: (_req: unknown, socket: import('node:stream').Duplex) => {
      hooked += 1;
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    },
  };
  const { port } = await startWeb(t, { env: { WEB_DYNAMIC: 'embedded' }, handlers: { app: handler } });
  const answer = await rawUpgrade(port, handshakeHead('/api/live'));
  t.equal(hooked, 1);
  t.match(answer, /^HTTP\/1\.1 403 /);
});
