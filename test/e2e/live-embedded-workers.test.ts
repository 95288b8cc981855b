/**
 * Issue 16 in embedded mode (WEB_DYNAMIC=embedded, the app inside the web tier's own processes)
 * with WEB_WORKERS=2, through the built web tier: an article written through one web worker
 * reaches every live client, WebSocket (/api/live) and Server-Sent Events (/api/articles/events),
 * whichever worker holds it, exactly once: through the web tier's cluster primary on SQLite, and
 * through LISTEN/NOTIFY alone on Postgres (no second copy through the primary). A config reload
 * (SIGHUP) leaves the streams open and the fan-out working; shutdown (SIGTERM) still closes the
 * embedded WebSockets and ends the event streams.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectLiveSocket, createEventStreamParser, createFeed, within, type Feed, type LiveMessage } from '../helpers/live-clients.js';
import { postgresSkipReason, startPostgres } from '../helpers/postgres.js';
import { spawnEntry, WEB_MAIN, type SpawnedEntry } from '../helpers/web-tier.js';

/** Fresh connections go to the workers in turn (node:cluster round-robin); this many are enough to hold both. */
const MAX_CLIENTS_PER_KIND = 20;

/** One live client of either kind: the worker pid that holds it and what it has received. */
interface Client extends Pick<Feed, 'waitFor'> {
  readonly kind: 'ws' | 'sse';
  readonly pid: number;
  readonly events: readonly LiveMessage[];
  /** The WebSocket close code, or 0 when the SSE stream ended. */
  readonly ended: Promise<number>;
  close(): void;
}

async function connectWebSocket(origin: string): Promise<Client> {
  // The hello names the process serving the socket (app-tier/app/live/socket.ts): in embedded mode, the web worker.
  const socket = await connectLiveSocket(origin);
  return { kind: 'ws', pid: socket.pid, events: socket.messages, ended: socket.closeCode, waitFor: socket.waitFor, close: () => socket.ws.terminate() };
}

function get(agent: Agent, url: string): Promise<{ res: IncomingMessage; reused: boolean }> {
  return within(new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => resolve({ res, reused: req.reusedSocket }));
    req.on('error', reject);
    req.end();
  }), `GET ${url}`);
}

/**
 * An SSE client pinned to a known worker: GET /api/echo (which names the worker's pid) and then
 * the event stream on the same keep-alive connection, so the stream is held by that worker.
 */
async function connectEventStream(origin: string): Promise<Client> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const echo = await get(agent, `${origin}/api/echo`);
  let body = '';
  for await (const chunk of echo.res) body += String(chunk);
  const pid = (JSON.parse(body) as { worker: { pid: number } }).worker.pid;
  const stream = await get(agent, `${origin}/api/articles/events`);
  if (!stream.reused) throw new Error('the event stream did not reuse the echo\'s connection: its worker is unknown');
  if (stream.res.statusCode !== 200) throw new Error(`event stream: status ${stream.res.statusCode}`);
  const ended = new Promise<number>((resolve) => stream.res.once('close', () => resolve(0)));
  const feed = createFeed(ended.then(() => undefined));
  stream.res.setEncoding('utf8');
  stream.res.on('data', createEventStreamParser((message) => feed.push(message)));
  stream.res.on('error', () => undefined);
  return {
    kind: 'sse', pid, events: feed.messages, ended, waitFor: feed.waitFor,
    close: () => {
      stream.res.destroy();
      agent.destroy();
    },
  };
}

async function startEmbedded(t: Test, env: Record<string, string>): Promise<{ web: SpawnedEntry; origin: string }> {
  const web = spawnEntry(t, WEB_MAIN, { WEB_HOST: '127.0.0.1', WEB_PORT: '0', WEB_WORKERS: '2', WEB_DYNAMIC: 'embedded', APP_UPSTREAMS: '', LOG_LEVEL: 'info', ...env });
  await web.waitForLine((line) => line['msg'] === 'web cluster ready', 60_000);
  const listening = await web.waitForLine((line) => line['msg'] === 'listening');
  return { web, origin: `http://127.0.0.1:${listening['port'] as number}` };
}

/** Clients of both kinds until each kind has some on both workers (bounded). */
async function connectClients(t: Test, origin: string): Promise<Client[]> {
  const clients: Client[] = [];
  t.teardown(() => {
    for (const client of clients) client.close();
  });
  for (const connect of [connectWebSocket, connectEventStream]) {
    const mine: Client[] = [];
    for (let index = 0; index < MAX_CLIENTS_PER_KIND && (mine.length < 4 || new Set(mine.map((client) => client.pid)).size < 2); index += 1) {
      mine.push(await connect(origin));
    }
    clients.push(...mine);
  }
  for (const kind of ['ws', 'sse'] as const) {
    const pids = new Set(clients.filter((client) => client.kind === kind).map((client) => client.pid));
    t.equal(pids.size, 2, `${kind} clients held by both web workers (${[...pids].join(', ')})`);
  }
  return clients;
}

async function createArticle(origin: string, title: string): Promise<number> {
  const res = await within(fetch(`${origin}/api/articles/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title, body: 'x' }) }), `POST ${title}`);
  await res.arrayBuffer();
  return res.status;
}

const createdNamed = (title: string) => (event: LiveMessage): boolean => event.type === 'article.created' && event.article?.title === title;

/**
 * Writes `title`, then a second article: once every client has the second, a duplicate of the first
 * (a second delivery path) has had the time the second took, so counting the first is fair.
 */
async function assertEachGetsOnce(t: Test, origin: string, clients: readonly Client[], title: string): Promise<void> {
  t.equal(await createArticle(origin, title), 201, `${title}: written`);
  await Promise.all(clients.map((client) => client.waitFor(createdNamed(title), `${title} on ${client.kind} client of worker ${client.pid}`)));
  const after = `${title} (after)`;
  t.equal(await createArticle(origin, after), 201, `${after}: written`);
  await Promise.all(clients.map((client) => client.waitFor(createdNamed(after), `${after} on ${client.kind} client of worker ${client.pid}`)));
  const counts = clients.map((client) => client.events.filter(createdNamed(title)).length);
  t.same(counts, clients.map(() => 1), `each of ${clients.length} clients got ${title}'s article.created exactly once`);
}

t.test('SQLite, WEB_WORKERS=2: a write through one web worker reaches every client on both, once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-live-embedded-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { web, origin } = await startEmbedded(t, { DATABASE_URL: `sqlite:${join(dir, 'twotier.db')}` });
  const clients = await connectClients(t, origin);
  await assertEachGetsOnce(t, origin, clients, 'Across web workers');

  // A config reload re-reads the config in place (web-tier/cluster.ts): the streams stay open and fan-out goes on.
  const reloadedBefore = web.lines.filter((line) => line['msg'] === 'config reloaded').length;
  process.kill(web.child.pid as number, 'SIGHUP');
  await web.waitForLine(() => web.lines.filter((line) => line['msg'] === 'config reloaded').length >= reloadedBefore + 2);
  await assertEachGetsOnce(t, origin, clients, 'After the config reload');

  // Shutdown: the embedded WebSockets are closed and the event streams end; the tier exits 0.
  process.kill(web.child.pid as number, 'SIGTERM');
  const codes = await within(Promise.all(clients.map((client) => client.ended)), 'every client to be closed by the shutdown');
  t.ok(codes.filter((_, index) => clients[index]?.kind === 'ws').every((code) => code === 1001 || code === 1006), `WebSockets closed on shutdown (codes ${[...new Set(codes)].join(', ')})`);
  t.same(await within(web.exited, 'the web tier to exit'), { code: 0, signal: null }, 'the web tier exits 0');
});

const skip = postgresSkipReason();

t.test('Postgres, WEB_WORKERS=2: LISTEN/NOTIFY carries the events; nobody gets one twice', { skip }, async (t) => {
  const cluster = await startPostgres(t);
  const url = await cluster.createDatabase('live_embedded');
  const { origin } = await startEmbedded(t, { DATABASE_URL: url });
  const clients = await connectClients(t, origin);
  await assertEachGetsOnce(t, origin, clients, 'Through Postgres');
});
