/**
 * The live feed across boxes on separate network stacks (issue 16, "How it is tested"): one web
 * box, two app boxes, one Postgres box (test/helpers/multibox.ts). Clients connect through the
 * web tier: a WebSocket (/api/live) and SSE streams (/api/articles/events) held by app box 2
 * hear an article created through box 1 (Postgres LISTEN/NOTIFY); then box 2 loses power
 * (SIGKILL to everything in its namespace): its clients are closed, reconnect through the web
 * tier to box 1 with the last event id they saw, get what was published while they were away,
 * and miss nothing published after. Then box 2 comes back and its network is cut instead (its
 * interface down: no reset, no FIN): the web tier frees its clients and they move the same way.
 * Delays are printed, not asserted (the machine is shared).
 */
import t from 'tap';
import { connectLiveSocket, openEventStream, within, type LiveMessage, type LiveSocket, type LiveStream } from '../helpers/live-clients.js';
import { createBoxes, launch, multiboxSkipReason, NET, pidsIn, request, writePlacement } from '../helpers/multibox.js';
import { startPostgres } from '../helpers/postgres.js';

const skip = multiboxSkipReason();
/** Reconnect attempts through the web tier while it may still think the dead box healthy. */
const RECONNECT_TRIES = 20;
const WS_PING_MS = 1_000;
const WS_IDLE_MS = 4_000;
/** Above the SSE stream's 15 s pings. */
const SSE_IDLE_MS = 20_000;

/**
 * Reconnects as a client would (a WebSocket client passes ?lastEventId=) through `site`; a failed
 * handshake (a 502 while the health checks still count a dead box in) is noted and retried, bounded.
 */
async function reconnectSocket(site: string, lastEventId: string | undefined, failures: string[]): Promise<LiveSocket | undefined> {
  for (let attempt = 0; attempt < RECONNECT_TRIES; attempt += 1) {
    const socket = await connectLiveSocket(site, { lastEventId }).catch((error: Error) => {
      failures.push(`ws: ${error.message}`);
      return undefined;
    });
    if (socket !== undefined) return socket;
  }
  return undefined;
}

/** The same for an event stream (EventSource sends Last-Event-ID itself): anything but a 200 is noted and retried. */
async function reopenStream(site: string, lastEventId: string | undefined, failures: string[]): Promise<LiveStream | undefined> {
  for (let attempt = 0; attempt < RECONNECT_TRIES; attempt += 1) {
    const opened = await openEventStream(site, { lastEventId }).catch((error: Error) => {
      failures.push(`sse: ${error.message}`);
      return undefined;
    });
    if (opened?.status === 200) return opened;
    if (opened !== undefined) failures.push(`sse: ${opened.status}`);
  }
  return undefined;
}

t.test('live feed across boxes: box 2 hears box 1; box 2 killed, its clients move to box 1', { skip }, async (t) => {
  const boxes = await createBoxes(t);
  const cluster = await startPostgres(t, { netns: boxes.db.name, tcp: { host: NET.db, port: 5432 }, trustNetworks: ['198.18.0.0/24'] });
  await cluster.createDatabase('twotier');
  const { file: placement, env } = writePlacement(t, 'twotier-live-multibox-');
  // Short idle timeouts at the web box, so that a box whose network is cut (the last subtest)
  // loses its clients in seconds; the app boxes ping often enough to keep healthy ones open
  // (SSE pings every 15 s: app/live/events.ts).
  const appEnv = (box: string): NodeJS.ProcessEnv => ({ ...env(box), APP_WS_PING_INTERVAL_MS: String(WS_PING_MS) });
  const app1 = launch(t, boxes.app1, ['--config', placement, '--only', 'app'], appEnv('app1'));
  const app2 = launch(t, boxes.app2, ['--config', placement, '--only', 'app'], appEnv('app2'));
  await Promise.all([app1.up, app2.up]);
  const web = launch(t, boxes.web, ['--config', placement, '--only', 'web'], { ...env('web'), WEB_WS_IDLE_TIMEOUT_MS: String(WS_IDLE_MS), WEB_PROXY_BODY_IDLE_TIMEOUT_MS: String(SSE_IDLE_MS) });
  await web.up;
  const site = `http://${NET.web}:8080`;
  const box1 = `http://${NET.app1}:3000`;
  const box2 = `http://${NET.app2}:3000`;
  const pids1 = await pidsIn(boxes.app1);
  let pids2 = await pidsIn(boxes.app2);
  const boxOf = (pid: number): string => (pids1.has(pid) ? 'box 1' : pids2.has(pid) ? 'box 2' : `no box (pid ${pid})`);

  const sockets: LiveSocket[] = [];
  const streams: LiveStream[] = [];
  t.teardown(() => {
    for (const socket of sockets) socket.ws.terminate();
    for (const stream of streams) stream.close();
  });
  let created = 0;
  const createArticle = async (base: string, title: string): Promise<{ id: number; startedAt: number }> => {
    const startedAt = Date.now();
    const answer = await request(`${base}/api/articles/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title, body: 'live' }) });
    if (answer.status !== 201) throw new Error(`POST ${base}/api/articles/ answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    created += 1;
    return { id: (answer.body as { id: number }).id, startedAt };
  };
  const createdEvent = (id: number) => (message: LiveMessage): boolean => message.type === 'article.created' && message.article?.id === id;

  // Through the web tier: round-robin over the two boxes; keep connecting (bounded) until one
  // WebSocket is held by box 2, which its hello's worker pid tells.
  for (let i = 0; i < 10 && !sockets.some((socket) => pids2.has(socket.pid)); i += 1) sockets.push(await connectLiveSocket(site));
  const onBox2 = sockets.find((socket) => pids2.has(socket.pid));
  t.ok(onBox2, `a WebSocket through the web tier is held by box 2 (workers: ${sockets.map((socket) => boxOf(socket.pid)).join(', ')})`);
  if (onBox2 === undefined) return;
  // SSE says no worker pid: open several through the web tier (both boxes get some); the ones
  // box 2 held are the ones its death ends, below. One more straight to box 2, to be sure of one.
  for (let i = 0; i < 4; i += 1) streams.push(await openEventStream(site));
  const directStream = await openEventStream(box2);
  t.same(streams.map((stream) => stream.status), [200, 200, 200, 200], 'event streams open through the web tier');
  t.equal(directStream.status, 200, 'and one straight to box 2');
  t.teardown(() => directStream.close());

  const first = await createArticle(box1, 'Written through box 1');
  const heard = await onBox2.waitFor(createdEvent(first.id), 'article.created on the box-2 WebSocket');
  const wsMs = heard.at - first.startedAt;
  t.ok(heard, `box 2's WebSocket client (through the web tier) got article.created for a write through box 1: ${wsMs} ms after the POST began`);
  const sseMs = [];
  for (const stream of [...streams, directStream]) sseMs.push((await stream.waitFor(createdEvent(first.id), 'article.created on an event stream')).at - first.startedAt);
  t.pass(`every event stream got it (box 2's direct one included): ${sseMs.join(', ')} ms`);
  for (const socket of sockets) await socket.waitFor(createdEvent(first.id), `article.created on the WebSocket held by ${boxOf(socket.pid)}`);
  t.comment(`box 1 → Postgres NOTIFY → box 2 → web tier → client: WebSocket ${wsMs} ms, SSE ${Math.max(...sseMs)} ms (issue 16 asks for under a second; not asserted on a shared machine)`);

  t.test('box 2 killed: its clients are closed, reconnect through the web tier to box 1, and lose nothing', async (t) => {
    const lastSeen = new Map<LiveSocket | LiveStream, string | undefined>([...sockets, ...streams].map((client) => [client, client.lastEventId()]));
    await boxes.app2.killAll();
    const t0 = Date.now();

    // Published while box 2's clients are away: a client still on box 1 hears it; a client box 2
    // held cannot, so its connection must end (or the bounded wait fails: the web tier kept a dead
    // upstream's client hanging).
    const away = await createArticle(box1, 'Published while box 2 was down');
    const outcome = async (client: LiveSocket | LiveStream): Promise<'ended' | 'heard'> => within(Promise.race([
      client.ended.then(() => 'ended' as const),
      client.waitFor(createdEvent(away.id), 'the event published while box 2 was down').then(() => 'heard' as const, () => 'ended' as const),
    ]), 'each client to either hear the event or be closed');
    const socketOutcomes = await Promise.all(sockets.map(outcome));
    const streamOutcomes = await Promise.all(streams.map(outcome));
    const closedMs = Date.now() - t0;
    t.same(sockets.map((socket, i) => [boxOf(socket.pid), socketOutcomes[i]]), sockets.map((socket) => [boxOf(socket.pid), pids2.has(socket.pid) ? 'ended' : 'heard']),
      'the WebSockets box 2 held were closed; those on box 1 stayed and heard the event');
    t.ok(streamOutcomes.includes('ended'), `box 2 held some event streams through the web tier, and they ended (${streamOutcomes.join(', ')})`);
    t.ok(streamOutcomes.includes('heard'), 'the streams box 1 held kept going');
    await within(directStream.ended, 'the direct stream to box 2 to end');

    // Reconnect as a client would (EventSource sends Last-Event-ID itself; a WebSocket client
    // passes ?lastEventId=), through the web tier; a 502 while the health checks still count box 2
    // in is retried, bounded.
    const moved: Array<LiveSocket | LiveStream> = [];
    const statuses: string[] = [];
    for (const [i, socket] of sockets.entries()) {
      if (socketOutcomes[i] !== 'ended') continue;
      const again = await reconnectSocket(site, lastSeen.get(socket), statuses);
      t.ok(again, 'a closed WebSocket reconnected through the web tier', { statuses });
      if (again === undefined) return;
      sockets.push(again);
      moved.push(again);
      t.equal(boxOf(again.pid), 'box 1', 'and is held by box 1 now');
    }
    for (const [i, stream] of streams.entries()) {
      if (streamOutcomes[i] !== 'ended') continue;
      const again = await reopenStream(site, lastSeen.get(stream), statuses);
      t.ok(again, 'an ended event stream reconnected through the web tier with Last-Event-ID', { statuses });
      if (again === undefined) return;
      streams.push(again);
      moved.push(again);
    }
    t.comment(`box 2 killed → its clients closed and back through the web tier in ${Date.now() - t0} ms (closed within ${closedMs} ms; failed attempts: ${statuses.length ? statuses.join('; ') : 'none'})`);
    for (const client of moved) await client.waitFor(createdEvent(away.id), 'the event published while away, replayed after the last event id');
    t.pass(`all ${moved.length} reconnected clients got the event published while they were away (replayed from box 1's recent buffer)`);

    // After the reconnect: several writes, through the web tier (box 1 is all that is left) and
    // straight to box 1; every client still connected gets every one, once, in order.
    const after: number[] = [];
    for (let i = 0; i < 5; i += 1) after.push((await createArticle(i % 2 === 0 ? site : box1, `After the reconnect ${i}`)).id);
    const connected = [...sockets.filter((_socket, i) => socketOutcomes[i] !== 'ended'), ...streams.filter((_stream, i) => streamOutcomes[i] !== 'ended')];
    for (const client of connected) {
      for (const id of after) await client.waitFor(createdEvent(id), `article ${id}, created after the reconnect`);
      const ids = client.messages.filter((message) => message.type === 'article.created').map((message) => message.article?.id);
      const tail = ids.slice(ids.indexOf(after[0]));
      t.same(tail, after, `each of the ${after.length} events after the reconnect arrived once, in order`);
      t.equal(new Set(client.messages.map((message) => message.eventId).filter(Boolean)).size, client.messages.filter((message) => message.eventId !== undefined).length, 'no event twice');
    }
    t.pass(`${connected.length} clients (${moved.length} moved from box 2) got all ${after.length} events published after the reconnect; ${created} articles in all`);
    t.equal(app1.child.exitCode, null, 'box 1 kept running');
  });

  // A box whose network is cut sends no reset and no FIN: the web tier must free its clients by
  // itself. WebSockets: WEB_WS_IDLE_TIMEOUT_MS (healthy ones are kept busy by the app's pings).
  // Event streams: the proxied response ends when its upstream socket does: node's keep-alive
  // agent turns on TCP keep-alive, and libuv (1.46, node 20) sets TCP_KEEPIDLE 1 s, TCP_KEEPINTVL
  // 1 s, TCP_KEEPCNT 10 (seen with strace), so a silent peer is dropped after about 11 s (the
  // access line then says aborted); at the latest WEB_PROXY_BODY_IDLE_TIMEOUT_MS without a byte.
  t.test('box 2 back, then its network cut (no reset, no FIN): the web tier frees its clients, who move to box 1', async (t) => {
    const again = launch(t, boxes.app2, ['--config', placement, '--only', 'app'], appEnv('app2-again'));
    await again.up;
    pids2 = await pidsIn(boxes.app2);
    // Until the web tier's health check sees box 2 again, every new connection goes to box 1: bounded.
    const held: LiveSocket[] = [];
    for (let i = 0; i < 40 && !held.some((socket) => pids2.has(socket.pid)); i += 1) held.push(await connectLiveSocket(site));
    for (const socket of held) sockets.push(socket);
    const cut = held.filter((socket) => pids2.has(socket.pid));
    t.ok(cut.length > 0, `a WebSocket through the web tier is held by the restarted box 2 (${held.map((socket) => boxOf(socket.pid)).join(', ')})`);
    if (cut.length === 0) return;
    const fresh: LiveStream[] = [];
    for (let i = 0; i < 4; i += 1) fresh.push(await openEventStream(site));
    for (const stream of fresh) streams.push(stream);
    const before = await createArticle(box1, 'Before the network cut');
    for (const client of [...held, ...fresh]) await client.waitFor(createdEvent(before.id), 'the event before the cut');
    const lastSeen = new Map<LiveSocket | LiveStream, string | undefined>([...held, ...fresh].map((client) => [client, client.lastEventId()]));

    // The cable pulled: box 2's interface down inside its namespace. Its processes live on; the
    // web box hears nothing more from it, not even a reset.
    const webLinesBefore = web.lines.length;
    await boxes.app2.exec('ip', ['link', 'set', `tt${boxes.tag}n2`, 'down']);
    const t0 = Date.now();
    const during = await createArticle(box1, 'Published while box 2 was cut off');
    const outcome = async (client: LiveSocket | LiveStream): Promise<'ended' | 'heard'> => within(Promise.race([
      client.ended.then(() => 'ended' as const),
      client.waitFor(createdEvent(during.id), 'the event published while box 2 was cut off').then(() => 'heard' as const, () => 'ended' as const),
    ]), 'each client to either hear the event or be closed by an idle timeout', SSE_IDLE_MS + 30_000);
    const socketOutcomes = await Promise.all(held.map(outcome));
    const wsClosedMs = Date.now() - t0;
    t.same(socketOutcomes, held.map((socket) => (pids2.has(socket.pid) ? 'ended' : 'heard')), `the WebSockets box 2 held were closed (in ${wsClosedMs} ms; WEB_WS_IDLE_TIMEOUT_MS ${WS_IDLE_MS}), box 1's heard the event`);
    const streamOutcomes = await Promise.all(fresh.map(outcome));
    const sseClosedMs = Date.now() - t0;
    t.ok(streamOutcomes.includes('ended'), `event streams box 2 held were ended (in ${sseClosedMs} ms; WEB_PROXY_BODY_IDLE_TIMEOUT_MS ${SSE_IDLE_MS} at the latest): ${streamOutcomes.join(', ')}`);

    const moved: Array<LiveSocket | LiveStream> = [];
    const failures: string[] = [];
    for (const [i, socket] of held.entries()) {
      if (socketOutcomes[i] !== 'ended') continue;
      const next = await reconnectSocket(site, lastSeen.get(socket), failures);
      t.ok(next !== undefined && boxOf(next.pid) === 'box 1', 'a closed WebSocket reconnected through the web tier to box 1', { failures });
      if (next === undefined) return;
      sockets.push(next);
      moved.push(next);
    }
    for (const [i, stream] of fresh.entries()) {
      if (streamOutcomes[i] !== 'ended') continue;
      const next = await reopenStream(site, lastSeen.get(stream), failures);
      t.ok(next, 'an ended event stream reconnected through the web tier with Last-Event-ID', { failures });
      if (next === undefined) return;
      streams.push(next);
      moved.push(next);
    }
    const webSaid = [...new Set(web.lines.slice(webLinesBefore).filter((line) => Number(line['level']) >= 40 || String(line['msg']).includes('idle') || (String(line['url']).includes('/events') && line['aborted'] === true))
      .map((line) => (line['url'] === undefined ? String(line['msg']) : `${String(line['msg'])} ${String(line['url'])} after ${String(line['ms'])} ms, aborted`)))];
    t.comment(`the web box logged, after the cut: ${webSaid.join(' | ') || 'nothing at warn'}`);
    t.comment(`box 2 cut off → WebSockets closed in ${wsClosedMs} ms, streams in ${sseClosedMs} ms, all back through the web tier in ${Date.now() - t0} ms (failed attempts: ${failures.length ? failures.join('; ') : 'none'})`);
    for (const client of moved) await client.waitFor(createdEvent(during.id), 'the event published while cut off, replayed');
    t.pass(`all ${moved.length} reconnected clients got the event published while box 2 was cut off`);
    const after = await createArticle(site, 'After the network cut');
    const connected = [...held.filter((_socket, i) => socketOutcomes[i] !== 'ended'), ...fresh.filter((_stream, i) => streamOutcomes[i] !== 'ended'), ...moved];
    for (const client of connected) await client.waitFor(createdEvent(after.id), 'the event after the reconnect');
    t.pass(`${connected.length} clients got the event published after the reconnect`);
  });
});
