import t from 'tap';
import { once } from 'node:events';
import { get, type IncomingMessage } from 'node:http';
import type { StatusSnapshot } from '../../../web-tier/operator/status-data.js';
import { startHarness, startStubUpstream } from './harness.js';

interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

/** Reads Server-Sent Events frames (blank-line separated, HTML §9.2.6) from a response. */
function eventReader(res: IncomingMessage): { next(timeoutMs?: number): Promise<SseEvent>; preamble: string[] } {
  let buffer = '';
  const queue: SseEvent[] = [];
  const preamble: string[] = [];
  const waiters: ((event: SseEvent) => void)[] = [];
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    buffer += chunk;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event: SseEvent = { data: '' };
      for (const line of frame.split('\n')) {
        const colon = line.indexOf(':');
        const field = line.slice(0, colon);
        const value = line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') event.data += value;
        else if (field === 'id') event.id = value;
        else if (field === 'event') event.event = value;
        else preamble.push(line);
      }
      if (event.data === '') continue;
      const waiter = waiters.shift();
      if (waiter === undefined) queue.push(event);
      else waiter(event);
    }
  });
  return {
    preamble,
    next(timeoutMs = 5_000) {
      const queued = queue.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no event in time')), timeoutMs);
        waiters.push((event) => {
          clearTimeout(timer);
          resolve(event);
        });
      });
    },
  };
}

async function openStream(url: string): Promise<IncomingMessage> {
  const req = get(`${url}/-/status/events`, { agent: false, headers: { accept: 'text/event-stream' } });
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  return res;
}

t.test('the stream sends a snapshot at once, then one per interval, and counts new requests', async (t) => {
  const upstream = await startStubUpstream(t);
  const harness = await startHarness(t, { upstreams: [upstream.url], operator: { eventsIntervalMs: 100 } });
  const res = await openStream(harness.url);
  t.teardown(() => res.destroy());
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /^text\/event-stream/);
  t.equal(res.headers['cache-control'], 'no-store');
  const events = eventReader(res);
  const first = await events.next();
  t.equal(first.event, 'status');
  t.same(events.preamble, ['retry: 2000'], 'tells the browser how soon to reconnect');
  const snapshot = JSON.parse(first.data) as StatusSnapshot;
  t.same(snapshot.upstreams.map((item) => item.url), [upstream.url]);
  t.equal(harness.operator.streams(), 1);

  for (let i = 0; i < 3; i += 1) await (await fetch(`${harness.url}/api/x`)).arrayBuffer();
  // Bounded: the interval is 100 ms, so the count shows within a few events.
  let seen = snapshot.traffic.requests;
  let last = first;
  for (let attempt = 0; attempt < 20 && seen < 3; attempt += 1) {
    last = await events.next();
    seen = (JSON.parse(last.data) as StatusSnapshot).traffic.requests;
  }
  t.equal(seen, 3, 'the three proxied requests show up in a pushed snapshot');
  t.ok(Number(last.id) > Number(first.id), 'ids increase');
});

t.test('a client leaving is forgotten; close() ends open streams and refuses new ones', async (t) => {
  const harness = await startHarness(t, { operator: { eventsIntervalMs: 50 } });
  const leaving = await openStream(harness.url);
  await eventReader(leaving).next();
  const staying = await openStream(harness.url);
  const reader = eventReader(staying);
  await reader.next();
  t.equal(harness.operator.streams(), 2);
  leaving.destroy();
  // The server notices the closed socket on its own schedule; wait for it through the next events.
  for (let attempt = 0; attempt < 40 && harness.operator.streams() !== 1; attempt += 1) await reader.next();
  t.equal(harness.operator.streams(), 1);

  const ended = once(staying, 'end');
  await harness.operator.close();
  await ended;
  t.pass('the open stream ended');
  t.equal(harness.operator.streams(), 0);
  const refused = await openStream(harness.url);
  t.equal(refused.statusCode, 503);
  refused.resume();
});

t.test('the first snapshot does not wait for the interval', async (t) => {
  const harness = await startHarness(t, { operator: { eventsIntervalMs: 60_000 } });
  const res = await openStream(harness.url);
  t.teardown(() => res.destroy());
  const first = await eventReader(res).next(3_000);
  t.equal(first.event, 'status');
});

t.test('HEAD answers the stream headers without a stream; the client cap answers 503', async (t) => {
  const harness = await startHarness(t, { operator: { maxStreams: 1 } });
  const head = await fetch(`${harness.url}/-/status/events`, { method: 'HEAD' });
  t.equal(head.status, 200);
  t.match(head.headers.get('content-type'), /^text\/event-stream/);
  t.equal(harness.operator.streams(), 0);
  const open = await openStream(harness.url);
  t.teardown(() => open.destroy());
  await eventReader(open).next();
  const second = await openStream(harness.url);
  t.equal(second.statusCode, 503);
  t.equal(second.headers['retry-after'], '5');
  second.resume();
});
