/**
 * The live feed on one real worker server: real `ws` clients on /api/live, Server-Sent Events
 * read with fetch, Last-Event-ID resume, and bad input (oversize, invalid frames, binary,
 * unknown types) closing only the connection that sent it, with RFC 6455 §7.4.1's code.
 */
import t, { type Test } from 'tap';
import { once } from 'node:events';
import { connect, type AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { createLogger } from '../../common/logger.js';
import type { AppRequest, AppResponse, Application } from '../../common/app-interface.js';
import { createApp } from '../../app-tier/app/create-app.js';
import { createLiveHub, type LiveHub } from '../../app-tier/app/live/hub.js';
import { openStore } from '../../app-tier/store/index.js';
import { createWorkerServer, type WorkerServer } from '../../app-tier/worker.js';
import { DEFAULTS } from '../../app-tier/config.js';

const WAIT_MS = 10_000;
const MAX_MESSAGE_BYTES = 1024;
const logger = createLogger({ tier: 'app', level: 'silent' });

function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface Started { worker: WorkerServer; address: AddressInfo; hub: LiveHub; base: string }

async function startWorker(t: Test, app?: Application, config: { wsPingIntervalMs?: number } = {}): Promise<Started> {
  const hub = createLiveHub({ bufferEvents: 5 });
  const store = await openStore('sqlite::memory:', { logger });
  const application = app ?? createApp({ store, logger, live: hub });
  const worker = createWorkerServer({
    config: { ...DEFAULTS, host: '127.0.0.1', port: 0, drainGraceMs: 0, shutdownTimeoutMs: 5_000, wsMaxMessageBytes: MAX_MESSAGE_BYTES, ...config },
    logger,
    app: application,
    onDraining: () => hub.end(),
  });
  const address = await worker.listen();
  t.teardown(async () => {
    await worker.close();
    await application.close();
    await hub.close();
  });
  return { worker, address, hub, base: `http://127.0.0.1:${address.port}` };
}

/** A ws client whose messages can be awaited one by one. */
interface Client {
  ws: WebSocket;
  next(what?: string): Promise<Record<string, unknown>>;
  closed: Promise<{ code: number; reason: string }>;
}

async function openClient(t: Test, base: string, path = '/api/live'): Promise<Client> {
  const ws = new WebSocket(`${base.replace('http', 'ws')}${path}`);
  const messages: Record<string, unknown>[] = [];
  let waiting: (() => void) | undefined;
  ws.on('message', (data) => {
    messages.push(JSON.parse(String(data)) as Record<string, unknown>);
    waiting?.();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: String(reason) }));
  });
  ws.on('error', () => undefined);
  t.teardown(() => ws.terminate());
  await within(once(ws, 'open'), 'the WebSocket to open');
  const client: Client = {
    ws,
    closed,
    async next(what = 'a message') {
      while (messages.length === 0) {
        await within(new Promise<void>((resolve) => {
          waiting = resolve;
        }), what);
      }
      return messages.shift() as Record<string, unknown>;
    },
  };
  t.match(await client.next('hello'), { type: 'hello', worker: { pid: Number } }, 'the server says the subscription is live');
  return client;
}

async function send(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> | undefined }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, json: text === '' ? undefined : JSON.parse(text) as Record<string, unknown> };
}

/** Reads an SSE stream with fetch; next() gives the next event (comments skipped). */
async function openEvents(t: Test, base: string, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  t.teardown(() => controller.abort());
  const response = await fetch(`${base}/api/articles/events`, { headers, signal: controller.signal });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  let ended = false;
  return {
    response,
    abort: () => controller.abort(),
    async next(what = 'an event'): Promise<{ id?: string; event?: string; data?: string; retry?: string } | undefined> {
      for (;;) {
        const end = buffered.indexOf('\n\n');
        if (end !== -1) {
          const block = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const fields: Record<string, string> = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const colon = line.indexOf(':');
            fields[line.slice(0, colon)] = line.slice(colon + 1).trimStart();
          }
          if (Object.keys(fields).length > 0) return fields;
          continue;
        }
        if (ended) return undefined;
        const chunk = await within(reader.read(), what);
        if (chunk.done) ended = true;
        else buffered += decoder.decode(chunk.value, { stream: true });
      }
    },
  };
}

/** A raw client: the handshake by hand, then frames as bytes (for frames ws would never send). */
async function rawSocket(address: AddressInfo): Promise<{ write(frame: Buffer): void; closeCode(): Promise<number> }> {
  const socket = connect(address.port, '127.0.0.1');
  await within(once(socket, 'connect'), 'a TCP connection');
  socket.write(`GET /api/live HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  let received = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
  });
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  while (!received.includes('\r\n\r\n')) await within(once(socket, 'data'), 'the 101');
  return {
    write: (frame) => socket.write(frame),
    async closeCode() {
      await within(ended, 'the server to close the connection');
      const head = received.indexOf('\r\n\r\n') + 4;
      // Skip the server's text frames (hello…) to its close frame (opcode 8).
      let at = head;
      while (at < received.length) {
        const opcode = (received[at] as number) & 0x0f;
        const length = (received[at + 1] as number) & 0x7f;
        if (opcode === 8) return received.readUInt16BE(at + 2);
        at += 2 + length;
      }
      return -1;
    },
  };
}

/** A masked client frame (RFC 6455 §5.2: a client MUST mask). */
function frame(first: number, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((byte, index) => byte ^ (mask[index % 4] as number)));
  return Buffer.concat([Buffer.from([first, 0x80 | payload.length]), mask, masked]);
}

t.test('/api/live: every article write reaches every connected client', async (t) => {
  const { base } = await startWorker(t);
  const one = await openClient(t, base);
  const two = await openClient(t, base);
  const created = await send(base, 'POST', '/api/articles/', { title: 'Live one', body: 'Text.', published: '2024-03-05T10:00:00.000Z' });
  t.equal(created.status, 201);
  const id = created.json?.['id'] as number;
  for (const client of [one, two]) {
    const event = await client.next('article.created');
    t.equal(event['type'], 'article.created');
    t.match(event['eventId'], /\S/);
    t.same(event['article'], { id, title: 'Live one', url: `/api/articles/${id}/`, page: '/articles/2024/03/live-one/' });
  }
  t.equal((await send(base, 'PATCH', `/api/articles/${id}/`, { title: 'Live two' })).status, 200);
  t.match(await one.next('article.updated'), { type: 'article.updated', article: { id, title: 'Live two' } });
  t.equal((await send(base, 'DELETE', `/api/articles/${id}/`)).status, 204);
  await two.next('article.updated');
  t.same((await two.next('article.deleted'))['article'], { id, title: 'Live two', url: `/api/articles/${id}/` }, 'a deleted article is named by id and title');
  one.ws.send(JSON.stringify({ type: 'ping' }));
  t.match(await one.next('article.deleted'), { type: 'article.deleted' });
  t.same(await one.next('pong'), { type: 'pong' });
});

t.test('/api/live: plain GET is 426, an unknown path 404, a non-WebSocket Upgrade plain HTTP', async (t) => {
  const { base, address } = await startWorker(t);
  const plain = await fetch(`${base}/api/live`);
  t.equal(plain.status, 426, 'RFC 9110 §15.5.22');
  t.equal(plain.headers.get('upgrade'), 'websocket');
  await plain.text();

  const ws = new WebSocket(`${base.replace('http', 'ws')}/api/nothing-here`);
  ws.on('error', () => undefined);
  const [, response] = await within(once(ws, 'unexpected-response'), 'the 404') as [unknown, import('node:http').IncomingMessage];
  t.equal(response.statusCode, 404);
  response.resume();
  ws.terminate();

  // Upgrade: h2c is ignored (RFC 9110 §7.8): the page is served as HTTP/1.1 and the connection closes.
  const socket = connect(address.port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.end('GET /api/articles/ HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n');
  let text = '';
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
  });
  await within(once(socket, 'close'), 'the h2c answer');
  t.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  t.match(text, /\r\nConnection: close\r\n/);
  t.match(text, /"articles"/);
});

t.test('an application without a websocket entry answers 404 on the socket, never a hang', async (t) => {
  const plainApp: Application = {
    async handle(): Promise<AppResponse> {
      return { status: 200, headers: {}, body: 'ok' };
    },
    async close() {},
  };
  const { base } = await startWorker(t, plainApp);
  const ws = new WebSocket(`${base.replace('http', 'ws')}/anything`);
  ws.on('error', () => undefined);
  const [, response] = await within(once(ws, 'unexpected-response'), 'the 404') as [unknown, import('node:http').IncomingMessage];
  t.equal(response.statusCode, 404);
  response.resume();
  ws.terminate();
});

t.test('bad input closes that connection with its RFC 6455 §7.4.1 code; others carry on', async (t) => {
  const { base, address } = await startWorker(t);
  const bystander = await openClient(t, base);

  const big = await openClient(t, base);
  big.ws.send('x'.repeat(MAX_MESSAGE_BYTES + 1));
  t.equal((await within(big.closed, 'the 1009')).code, 1009, 'a message over APP_WS_MAX_MESSAGE_BYTES: 1009 message too big');

  const binary = await openClient(t, base);
  binary.ws.send(Buffer.from([1, 2, 3]));
  t.equal((await within(binary.closed, 'the 1003')).code, 1003, 'binary on a text endpoint: 1003 unsupported data');

  const unknown = await openClient(t, base);
  unknown.ws.send(JSON.stringify({ type: 'subscribe-to-everything' }));
  t.equal((await within(unknown.closed, 'the 1003')).code, 1003, 'an unknown message type: 1003');

  const opcode = await rawSocket(address);
  opcode.write(frame(0x83, Buffer.alloc(0)));
  t.equal(await opcode.closeCode(), 1002, 'a reserved opcode: 1002 protocol error');

  const utf8 = await rawSocket(address);
  utf8.write(frame(0x81, Buffer.from([0xff, 0xfe])));
  t.equal(await utf8.closeCode(), 1007, 'text that is not UTF-8: 1007');

  t.equal((await send(base, 'POST', '/api/articles/', { title: 'Still here', body: 'x' })).status, 201);
  t.match(await bystander.next('the event after the bad clients'), { type: 'article.created', article: { title: 'Still here' } }, 'the other client is still served');
});

t.test('/api/articles/events: Server-Sent Events with Last-Event-ID resume', async (t) => {
  const { base } = await startWorker(t);
  const stream = await openEvents(t, base);
  t.equal(stream.response.status, 200);
  t.match(stream.response.headers.get('content-type'), /^text\/event-stream/);
  t.match(await stream.next('retry'), { retry: '2000' });
  // A write is seen only by subscribers: the stream is subscribed once its first bytes arrived.
  t.equal((await send(base, 'POST', '/api/articles/', { title: 'First', body: 'x' })).status, 201);
  const first = await stream.next('article.created');
  t.equal(first?.event, 'article.created');
  t.match(JSON.parse(first?.data ?? '{}'), { type: 'article.created', article: { title: 'First' } });
  stream.abort();

  // Missed while away: two writes, then a reconnect with the last id seen.
  await send(base, 'POST', '/api/articles/', { title: 'Second', body: 'x' });
  await send(base, 'POST', '/api/articles/', { title: 'Third', body: 'x' });
  const resumed = await openEvents(t, base, { 'last-event-id': first?.id ?? '' });
  await resumed.next('retry');
  const titles = [];
  for (let index = 0; index < 2; index += 1) titles.push(JSON.parse((await resumed.next('a replayed event'))?.data ?? '{}').article.title);
  t.same(titles, ['Second', 'Third'], 'what was missed is replayed, in order');

  const tooOld = await openEvents(t, base, { 'last-event-id': 'not-in-the-buffer' });
  await tooOld.next('retry');
  t.match(await tooOld.next('reset'), { event: 'reset' }, 'an id the buffer no longer holds: reset, so the client reloads');
});

t.test('a draining worker closes its WebSockets with 1001 and ends its event streams', async (t) => {
  const { base, worker } = await startWorker(t);
  const clients = await Promise.all([openClient(t, base), openClient(t, base), openClient(t, base)]);
  const stream = await openEvents(t, base);
  await stream.next('retry');
  const closing = worker.close();
  for (const client of clients) t.equal((await within(client.closed, 'the 1001')).code, 1001, 'RFC 6455 §7.4.1: going away');
  t.equal(await stream.next('the end of the stream'), undefined, 'the SSE stream ends (EventSource reconnects elsewhere)');
  await within(closing, 'the worker to close');
});

t.test('the websocket entry of an application: accept, receive, send, reject', async (t) => {
  const echo: Application = {
    async handle(): Promise<AppResponse> {
      return { status: 200, headers: {}, body: 'ok' };
    },
    async websocket(request: AppRequest, socket) {
      if (request.target === '/private') {
        await socket.reject({ status: 403, headers: { 'Content-Type': 'text/plain' }, body: 'no' });
        return;
      }
      if (request.target === '/throws') throw new Error('boom');
      await socket.accept({ protocol: 'echo.v1' });
      for (;;) {
        const event = await socket.receive();
        if (event.type === 'close') break;
        await socket.send(event.data);
      }
    },
    async close() {},
  };
  const { base } = await startWorker(t, echo);
  const url = base.replace('http', 'ws');
  const ws = new WebSocket(`${url}/echo`, ['echo.v1']);
  ws.on('error', () => undefined);
  t.teardown(() => ws.terminate());
  await within(once(ws, 'open'), 'open');
  t.equal(ws.protocol, 'echo.v1', 'the subprotocol the application chose (RFC 6455 §4.2.2)');
  ws.send('round trip');
  const [data] = await within(once(ws, 'message'), 'the echo') as [Buffer];
  t.equal(String(data), 'round trip');
  ws.close(1000);
  t.equal((await within(once(ws, 'close'), 'the close') as [number])[0], 1000);

  for (const [path, status] of [['/private', 403], ['/throws', 500]] as const) {
    const refused = new WebSocket(`${url}${path}`);
    refused.on('error', () => undefined);
    const [, response] = await within(once(refused, 'unexpected-response'), `the ${status}`) as [unknown, import('node:http').IncomingMessage];
    t.equal(response.statusCode, status, `${path}: ${status}`);
    response.resume();
    refused.terminate();
  }
});

t.test('the worker itself sends 1001 to an application\'s WebSockets when it drains', async (t) => {
  // An application with no live feed of its own: only the adapter can say "going away".
  const holder: Application = {
    async handle(): Promise<AppResponse> {
      return { status: 200, headers: {}, body: 'ok' };
    },
    async websocket(_request, socket) {
      await socket.accept();
      await socket.closed;
    },
    async close() {},
  };
  const { base, worker } = await startWorker(t, holder);
  const ws = new WebSocket(`${base.replace('http', 'ws')}/hold`);
  ws.on('error', () => undefined);
  t.teardown(() => ws.terminate());
  await within(once(ws, 'open'), 'open');
  const closed = once(ws, 'close');
  const closing = worker.close();
  t.equal((await within(closed, 'the 1001'))[0], 1001, 'RFC 6455 §7.4.1: going away');
  await within(closing, 'the worker to close');
});

t.test('the worker pings every open WebSocket and cuts one that stops answering (a half-open connection)', async (t) => {
  const { base } = await startWorker(t, undefined, { wsPingIntervalMs: 100 });
  const healthy = await openClient(t, base);
  // autoPong off: the pings arrive and are never answered, as when the client's box is gone.
  const silent = new WebSocket(`${base.replace('http', 'ws')}/api/live`, { autoPong: false });
  silent.on('error', () => undefined);
  t.teardown(() => silent.terminate());
  const silentClosed = new Promise<number>((resolve) => silent.on('close', (code) => resolve(code)));
  await within(once(silent, 'open'), 'the silent client to open');
  let pings = 0;
  const pinged = new Promise<void>((resolve) => healthy.ws.on('ping', () => {
    pings += 1;
    if (pings >= 3) resolve();
  }));
  t.equal(await within(silentClosed, 'the silent client to be cut'), 1006, 'no pong for a whole interval: cut without a close frame (RFC 6455 §7.1.5: 1006)');
  await within(pinged, 'three pings on the healthy client');
  t.equal(healthy.ws.readyState, WebSocket.OPEN, `the client that answers stays open (${pings} pings)`);
});
