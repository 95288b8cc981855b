/**
 * The live feed across the workers of one box (the real, built app tier): an article written
 * through one worker reaches WebSocket and SSE clients held by the other, through the cluster
 * primary's relay; and through a rolling reload every client gets 1001 (RFC 6455 §7.4.1 going
 * away), reconnects, and hears the events published after it did.
 */
import t from 'tap';
import WebSocket from 'ws';
import { startAppTier, send } from '../helpers/app-tier.js';
import { connectLiveSocket, LIVE_WAIT_MS, readStreamUntil, within, type LiveSocket } from '../helpers/live-clients.js';

/** The issue asks for 200 clients through a reload; LIVE_RELOAD_CLIENTS lowers it on a small box. */
const RELOAD_CLIENTS = Number(process.env['LIVE_RELOAD_CLIENTS'] ?? 200);

t.test('two workers: a write through one reaches clients on both, over WebSocket and SSE', async (t) => {
  const app = await startAppTier(t, { workers: 2, readyTimeoutMs: 60_000 });
  const clients: LiveSocket[] = [];
  t.teardown(() => {
    for (const client of clients) client.ws.terminate();
  });
  // Round-robin hands connections to the workers in turn; a few are enough to hold both.
  for (let index = 0; index < 20 && new Set(clients.map((client) => client.pid)).size < 2; index += 1) clients.push(await connectLiveSocket(app.url));
  t.equal(new Set(clients.map((client) => client.pid)).size, 2, 'clients on both workers');

  const controller = new AbortController();
  t.teardown(() => controller.abort());
  const stream = await fetch(`${app.url}/api/articles/events`, { signal: controller.signal });
  const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
  await within(reader.read(), 'the stream to start');

  const created = await send(`${app.url}/api/articles/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'Across workers', body: 'x' }) });
  t.equal(created.status, 201);
  for (const client of clients) {
    await client.waitFor((message) => message.type === 'article.created', `the event on worker ${client.pid}`);
  }
  t.pass(`every one of ${clients.length} clients on workers ${[...new Set(clients.map((client) => client.pid))].join(', ')} got article.created`);
  const text = await readStreamUntil(reader, 'Across workers', 'the SSE event');
  t.match(text, /event: article\.created\n/, 'the SSE client got it too');
});

t.test(`rolling reload with ${RELOAD_CLIENTS} clients: each gets 1001, reconnects, and misses nothing published after`, async (t) => {
  const app = await startAppTier(t, { workers: 2, readyTimeoutMs: 60_000, env: { APP_SHUTDOWN_TIMEOUT_MS: '10000' } });
  const current = new Map<number, LiveSocket>();
  const goingAway = new Set<number>();
  let stopped = false;
  t.teardown(() => {
    stopped = true;
    for (const client of current.values()) client.ws.terminate();
  });
  let onChange: () => void = () => undefined;
  const keep = async (slot: number): Promise<void> => {
    const client = await connectLiveSocket(app.url);
    current.set(slot, client);
    onChange();
    void client.closeCode.then((code) => {
      if (code === 1001) goingAway.add(slot);
      // Reconnect as a browser would, while the test runs; bounded by the reload's own length.
      if (!stopped) return keep(slot);
      return undefined;
    }).catch(() => undefined);
  };
  for (let start = 0; start < RELOAD_CLIENTS; start += 20) {
    await Promise.all(Array.from({ length: Math.min(20, RELOAD_CLIENTS - start) }, (_, index) => keep(start + index)));
  }
  const before = new Set([...current.values()].map((client) => client.pid));
  process.kill(app.child.pid as number, 'SIGHUP');
  await app.waitForLine((line) => line.msg === 'reload finished', 60_000);
  // Every slot lost its first connection with 1001 (its worker went away) and holds a new one.
  const settled = (): boolean => goingAway.size === RELOAD_CLIENTS && ![...current.values()].some((client) => before.has(client.pid) || client.ws.readyState !== WebSocket.OPEN);
  // Each reconnect wakes the check; the whole wait is bounded.
  const deadline = Date.now() + LIVE_WAIT_MS;
  while (!settled() && Date.now() < deadline) {
    await within(new Promise<void>((resolve) => {
      onChange = resolve;
    }), 'the clients to reconnect').catch(() => undefined);
  }
  t.equal(goingAway.size, RELOAD_CLIENTS, 'every client was closed with 1001 going away');
  t.notOk([...current.values()].some((client) => before.has(client.pid)), 'every client now holds a new worker');
  const created = await send(`${app.url}/api/articles/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'After the reload', body: 'x' }) });
  t.equal(created.status, 201);
  await Promise.all([...current.values()].map((client) => client.waitFor((message) => message.type === 'article.created', 'the event after the reload')));
  t.pass(`all ${RELOAD_CLIENTS} reconnected clients got the event published after the reload`);
});
