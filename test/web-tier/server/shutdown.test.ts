/**
 * Graceful shutdown (issue 6): readyz answers 503, the listener closes, idle keep-alive
 * connections close, busy ones get `Connection: close` on their response, in-flight requests
 * finish, and a request that never finishes is cut at shutdownTimeoutMs.
 */
import t from 'tap';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { RequestContext, RequestHandler } from '../../../web-tier/context.js';
import { parseResponses, openSocket } from '../../helpers/raw-http.js';
import { fakeHandlers, startWeb } from '../../helpers/web-tier.js';

const H = 'Host: a\r\n';

/** An app handler that answers /api/slow when released and never answers /api/hang. */
function gatedApp() {
  const arrived = new Map<string, () => void>();
  const waiting = new Map<string, Promise<void>>();
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  const seen = (path: string): Promise<void> => {
    let promise = waiting.get(path);
    if (promise === undefined) {
      promise = new Promise((resolve) => arrived.set(path, resolve));
      waiting.set(path, promise);
    }
    return promise;
  };
  const handler: RequestHandler & { hasHealthyUpstream(): boolean; closed: boolean } = {
    closed: false,
    hasHealthyUpstream: () => true,
    handle(_req: IncomingMessage, res: ServerResponse, ctx: RequestContext) {
      ctx.servedBy = 'app';
      res.setHeader('X-Served-By', 'app');
      void seen(ctx.pathname);
      arrived.get(ctx.pathname)?.();
      if (ctx.pathname === '/api/slow') {
        void released.then(() => {
          res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 4 });
          res.end('done');
        });
      }
    },
    async close() {
      handler.closed = true;
    },
  };
  return { handler, seen, release };
}

function collect(socket: Socket): { text(): string; closed: Promise<void> } {
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (text += chunk));
  socket.on('error', () => undefined);
  return { text: () => text, closed: once(socket, 'close').then(() => undefined) };
}

t.test('SIGTERM-style close: readyz 503, listener closed, Connection: close, in-flight finish, hung cut at the bound', async (t) => {
  const app = gatedApp();
  const { web, port, log } = await startWeb(t, { handlers: { ...fakeHandlers(), app: app.handler }, config: { server: { shutdownTimeoutMs: 1_500 } } });

  // A: an idle keep-alive connection (one answered request).
  const idle = await openSocket(port);
  t.teardown(() => idle.destroy());
  const idleData = collect(idle);
  idle.write(`GET /index.html HTTP/1.1\r\n${H}\r\n`);
  while (parseResponses(idleData.text(), false).length < 1) await once(idle, 'data');

  // C: a readiness probe whose header section is still arriving when the drain starts.
  const probe = await openSocket(port);
  t.teardown(() => probe.destroy());
  const probeData = collect(probe);
  probe.write(`GET /readyz HTTP/1.1\r\n${H}`);

  // B: a request in flight; D: one that would never finish.
  const busy = await openSocket(port);
  t.teardown(() => busy.destroy());
  const busyData = collect(busy);
  busy.write(`GET /api/slow HTTP/1.1\r\n${H}\r\n`);
  const hung = await openSocket(port);
  t.teardown(() => hung.destroy());
  const hungData = collect(hung);
  hung.write(`GET /api/hang HTTP/1.1\r\n${H}\r\n`);
  await Promise.all([app.seen('/api/slow'), app.seen('/api/hang')]);

  const started = Date.now();
  const closing = web.close();

  await idleData.closed;
  t.pass('the idle keep-alive connection is closed at once');
  const refused = connect({ host: '127.0.0.1', port });
  const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
  t.equal(error.code, 'ECONNREFUSED', 'the listener is closed');

  probe.write('\r\n');
  await probeData.closed;
  const [ready] = parseResponses(probeData.text(), true);
  t.equal(ready?.status, 503, 'readyz says 503 while draining');
  t.match(JSON.parse(ready?.body ?? '{}'), { reason: 'draining' });
  t.equal(ready?.headers['connection'], 'close');

  app.release();
  await busyData.closed;
  const [slow] = parseResponses(busyData.text(), true);
  t.equal(slow?.status, 200, 'the in-flight request finished');
  t.equal(slow?.body, 'done');
  t.equal(slow?.headers['connection'], 'close', 'with Connection: close (RFC 9112 §9.6)');

  await closing;
  const elapsed = Date.now() - started;
  await hungData.closed;
  t.equal(hungData.text(), '', 'the hung request was cut without an answer');
  t.ok(elapsed >= 1_400 && elapsed < 6_000, `close() resolved after the ${1_500} ms bound (${elapsed} ms)`);
  t.ok(app.handler.closed, 'handlers closed');
  const aborted = (await log.waitForAccessLines(4)).find((line) => line['url'] === '/api/hang');
  t.match(aborted, { status: 0, aborted: true }, 'the cut request is logged as aborted');
});

t.test('close() with nothing in flight resolves at once', async (t) => {
  const { web } = await startWeb(t, { handlers: fakeHandlers(), config: { server: { shutdownTimeoutMs: 10_000 } } });
  const started = Date.now();
  await web.close();
  t.ok(Date.now() - started < 1_000, 'no wait for the bound');
});
