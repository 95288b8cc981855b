/**
 * The live feed end to end in one process (issue 16): a real `ws` client through the real web
 * tier (pipeline, proxy/upgrade.ts) to a real app worker server (app-tier/worker.ts, the
 * built-in app's /api/live); an article written through the web tier arrives on the socket.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import WebSocket from 'ws';
import { createLogger } from '../../../common/logger.js';
import { createApp } from '../../../app-tier/app/create-app.js';
import { createLiveHub } from '../../../app-tier/app/live/hub.js';
import { DEFAULTS } from '../../../app-tier/config.js';
import { openStore } from '../../../app-tier/store/index.js';
import { createWorkerServer } from '../../../app-tier/worker.js';
import { request } from './helpers.js';
import { startWebFor } from './upgrade-helpers.js';

const logger = createLogger({ tier: 'app', level: 'silent' });

t.test('an article written through the web tier reaches a ws client connected through it', async (t) => {
  const hub = createLiveHub({ bufferEvents: 5 });
  const store = await openStore('sqlite::memory:', { logger });
  const app = createApp({ store, logger, live: hub });
  const worker = createWorkerServer({ config: { ...DEFAULTS, host: '127.0.0.1', port: 0, drainGraceMs: 0, shutdownTimeoutMs: 2_000 }, logger, app, onDraining: () => hub.end() });
  const address: AddressInfo = await worker.listen();
  t.teardown(async () => {
    await worker.close();
    await app.close();
    await hub.close();
  });
  const { port } = await startWebFor(t, `http://127.0.0.1:${address.port}`);
  const ws = new WebSocket(`ws://127.0.0.1:${port}/api/live`, { handshakeTimeout: 10_000 });
  ws.on('error', () => undefined);
  t.teardown(() => ws.terminate());
  await once(ws, 'open');
  const message = once(ws, 'message');
  const created = await request(port, { method: 'POST', path: '/api/articles/', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ title: 'Through both tiers', body: 'Text.', published: '2024-03-05T10:00:00.000Z' }) });
  t.equal(created.status, 201);
  const [data] = (await message) as [Buffer];
  const event = JSON.parse(String(data)) as { type: string; article: { title: string } };
  t.equal(event.type, 'article.created');
  t.equal(event.article.title, 'Through both tiers');
  const closing = once(ws, 'close');
  await worker.close();
  const [code] = (await closing) as [number];
  t.equal(code, 1001, "the worker's going-away close passes through the web tier");
});
