/**
 * The live feed across boxes through Postgres LISTEN/NOTIFY: two app tiers (two "boxes", each
 * its own primary and workers) share one real Postgres; an article written through box 1 reaches
 * a WebSocket client and an SSE client held by box 2. Skipped where Postgres is not installed.
 */
import t from 'tap';
import { send, startAppTier } from '../helpers/app-tier.js';
import { connectLiveSocket, readStreamUntil, within } from '../helpers/live-clients.js';
import { postgresSkipReason, startPostgres } from '../helpers/postgres.js';

const skip = postgresSkipReason();

t.test('a write on box 1 reaches clients on box 2 (LISTEN/NOTIFY)', { skip }, async (t) => {
  const cluster = await startPostgres(t);
  const url = await cluster.createDatabase('live');
  const env = { DATABASE_URL: url };
  const box1 = await startAppTier(t, { workers: 1, env, readyTimeoutMs: 60_000 });
  const box2 = await startAppTier(t, { workers: 2, env, readyTimeoutMs: 60_000 });

  const socket = await connectLiveSocket(box2.url);
  t.teardown(() => socket.ws.terminate());

  const controller = new AbortController();
  t.teardown(() => controller.abort());
  const stream = await fetch(`${box2.url}/api/articles/events`, { signal: controller.signal });
  const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
  await within(reader.read(), 'the stream to start');

  const startedAt = Date.now();
  const created = await send(`${box1.url}/api/articles/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'From box 1', body: 'x' }) });
  t.equal(created.status, 201, 'written through box 1');
  const event = await socket.waitFor((message) => message.type === 'article.created', 'article.created');
  const ms = Date.now() - startedAt;
  t.match(event, { type: 'article.created', article: { title: 'From box 1' } }, `box 2's WebSocket client got it (${ms} ms after the POST began)`);
  const text = await readStreamUntil(reader, 'From box 1', 'the SSE event');
  t.match(text, /event: article\.created\n/, "box 2's SSE client got it");
  t.comment(`box 1 → Postgres NOTIFY → box 2: ${ms} ms`);
});
