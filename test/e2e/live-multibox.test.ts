/**
 * The live feed across boxes on separate network stacks (issue 16, "How it is tested"): one web
 * box, two app boxes, one Postgres box (test/helpers/multibox.ts). Clients connect through the
 * web tier: a WebSocket (/api/live) and SSE streams (/api/articles/events) held by app box 2
 * hear an article created through box 1 (Postgres LISTEN/NOTIFY); then box 2 loses power
 * (SIGKILL to everything in its namespace): its clients are closed, reconnect through the web
 * tier to box 1 with the last event id they saw, get what was published while they were away,
 * and miss nothing published after. Delays are printed, not asserted (the machine is shared).
 */
import t from 'tap';
import { connectLiveSocket, openEventStream, within, type LiveMessage, type LiveSocket, type LiveStream } from '../helpers/live-clients.js';
import { createBoxes, launch, multiboxSkipReason, NET, pidsIn, request, writePlacement } from '../helpers/multibox.js';
import { startPostgres } from '../helpers/postgres.js';

const skip = multiboxSkipReason();
/** Reconnect attempts through the web tier while it may still think the dead box healthy. */
const RECONNECT_TRIES = 20;

t.test('live feed across boxes: box 2 hears box 1; box 2 killed, its clients move to box 1', { skip }, async (t) => {
  const boxes = await createBoxes(t);
  const cluster = await startPostgres(t, { netns: boxes.db.name, tcp: { host: NET.db, port: 5432 }, trustNetworks: ['198.18.0.0/24'] });
  await cluster.createDatabase('twotier');
  const { file: placement, env } = writePlacement(t, 'twotier-live-multibox-');
  const app1 = launch(t, boxes.app1, ['--config', placement, '--only', 'app'], env('app1'));
  const app2 = launch(t, boxes.app2, ['--config', placement, '--only', 'app'], env('app2'));
  await Promise.all([app1.up, app2.up]);
  const web = launch(t, boxes.web, ['--config', placement, '--only', 'web'], env('web'));
  await web.up;
  const site = `http://${NET.web}:8080`;
  const box1 = `http://${NET.app1}:3000`;
  const box2 = `http://${NET.app2}:3000`;
  const pids1 = await pidsIn(boxes.app1);
  const pids2 = await pidsIn(boxes.app2);
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
      let again: LiveSocket | undefined;
      for (let attempt = 0; attempt < RECONNECT_TRIES && again === undefined; attempt += 1) {
        again = await connectLiveSocket(site, { lastEventId: lastSeen.get(socket) }).catch((error: Error) => {
          statuses.push(`ws: ${error.message}`);
          return undefined;
        });
      }
      t.ok(again, 'a closed WebSocket reconnected through the web tier', { statuses });
      if (again === undefined) return;
      sockets.push(again);
      moved.push(again);
      t.equal(boxOf(again.pid), 'box 1', 'and is held by box 1 now');
    }
    for (const [i, stream] of streams.entries()) {
      if (streamOutcomes[i] !== 'ended') continue;
      let again: LiveStream | undefined;
      for (let attempt = 0; attempt < RECONNECT_TRIES && again === undefined; attempt += 1) {
        const opened = await openEventStream(site, { lastEventId: lastSeen.get(stream) }).catch((error: Error) => {
          statuses.push(`sse: ${error.message}`);
          return undefined;
        });
        if (opened?.status === 200) again = opened;
        else if (opened !== undefined) statuses.push(`sse: ${opened.status}`);
      }
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
});
