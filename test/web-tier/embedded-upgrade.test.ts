/**
 * Embedded mode's WebSocket entry: the web tier's upgrade path calls handler.upgrade(), which
 * runs the application's websocket entry in-process. Here a bare http server stands in for the
 * web tier's 'upgrade' wiring (web-tier/pipeline owns that): the live feed over /api/live, a
 * non-WebSocket upgrade refused with 400, and 1001 for every socket when the handler closes.
 */
import t from 'tap';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../../common/logger.js';
import { createApp } from '../../app-tier/app/create-app.js';
import { createLiveHub } from '../../app-tier/app/live/hub.js';
import { openStore } from '../../app-tier/store/index.js';
import type { RequestContext } from '../../web-tier/context.js';
import { createEmbeddedHandler } from '../../web-tier/embedded.js';
import { connectLiveSocket, within } from '../helpers/live-clients.js';

const logger = createLogger({ tier: 'web', level: 'silent' });
const WAIT_MS = 10_000;

function contextOf(req: IncomingMessage): RequestContext {
  const url = new URL(req.url ?? '/', 'http://x');
  return { requestId: 'req-1', startedAt: process.hrtime.bigint(), logger, pathname: url.pathname, search: url.search, servedBy: 'web' };
}

t.test('embedded: the live feed over WebSocket in the web tier\'s own process', async (t) => {
  const live = createLiveHub({ bufferEvents: 10 });
  const app = createApp({ store: await openStore('sqlite::memory:', { logger }), logger, live });
  const handler = createEmbeddedHandler({ app, logger, live });
  const server = createServer((req, res) => handler.handle(req, res, contextOf(req)));
  server.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => handler.upgrade(req, socket, head, contextOf(req)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  t.teardown(async () => {
    await handler.close();
    server.closeAllConnections();
    server.close();
  });

  const socket = await connectLiveSocket(`http://127.0.0.1:${port}`);
  t.teardown(() => socket.ws.terminate());
  t.match(socket.messages[0], { type: 'hello', worker: { pid: process.pid } });
  const created = await fetch(`http://127.0.0.1:${port}/api/articles/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'Embedded live', body: 'x' }) });
  t.equal(created.status, 201);
  await created.text();
  // The very next message after the hello.
  await socket.waitFor(() => socket.messages.length > 1, 'article.created', WAIT_MS);
  t.match(socket.messages[1], { type: 'article.created', article: { title: 'Embedded live' } });

  // Not a WebSocket: refused with 400 on the socket, never a hang.
  const refused = await new Promise<number>((resolve, reject) => {
    const socket = (async () => {
      const net = await import('node:net');
      const raw = net.connect(port, '127.0.0.1');
      let text = '';
      raw.on('data', (chunk: Buffer) => { text += chunk.toString('latin1'); });
      raw.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
      raw.on('error', reject);
      raw.end('GET /api/live HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n');
    })();
    socket.catch(reject);
  });
  t.equal(refused, 400);

  await within(handler.close(), 'the handler to close', WAIT_MS);
  t.equal(await within(socket.closeCode, 'the 1001', WAIT_MS), 1001, 'RFC 6455 §7.4.1 going away');
});

t.test('embedded: shutdown sends 1001 and ends the event streams when draining begins, not when the grace runs out', async (t) => {
  const { startWeb } = await import('../helpers/web-tier.js');
  const live = createLiveHub({ bufferEvents: 10 });
  const app = createApp({ store: await openStore('sqlite::memory:', { logger }), logger, live });
  const handler = createEmbeddedHandler({ app, logger, live });
  // A grace far longer than the waits below: only an early close can pass.
  const { web, port } = await startWeb(t, { config: { server: { dynamic: 'embedded', shutdownTimeoutMs: 120_000 } }, handlers: { app: handler } });

  const socket = await connectLiveSocket(`http://127.0.0.1:${port}`);
  t.teardown(() => socket.ws.terminate());

  const controller = new AbortController();
  t.teardown(() => controller.abort());
  const sse = await fetch(`http://127.0.0.1:${port}/api/articles/events`, { signal: controller.signal });
  t.equal(sse.status, 200);
  const reader = (sse.body as ReadableStream<Uint8Array>).getReader();
  const streamEnded = (async () => {
    for (;;) if ((await reader.read()).done) return true;
  })().catch(() => false);

  const stopping = web.close();
  t.equal(await within(socket.closeCode, 'the 1001 (the WebSocket was held for the grace instead)', WAIT_MS), 1001, 'RFC 6455 §7.4.1 going away, at the start of the drain');
  t.equal(await within(streamEnded, 'the event stream to end (it was held for the grace instead)', WAIT_MS), true, 'the event stream ends cleanly');
  await within(stopping, 'the web tier to close', WAIT_MS);
});
