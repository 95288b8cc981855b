/**
 * Request buffering (body-buffer.ts): a small body is read whole before its request waits for an
 * upstream slot, so slowhttptest's "slow body" (R-U-Dead-Yet) cannot hold the app tier's slots;
 * a larger body still streams (http-proxy#180).
 */
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { buffersBody } from '../../../web-tier/proxy/body-buffer.js';
import { createProxyHandler, PROXY_DEFAULTS } from '../../../web-tier/proxy/handler.js';
import { createLogger } from '../../../common/logger.js';
import { captureLogger, echo, echoed, request, startFront, startUpstream, type Front } from './helpers.js';

/** The pace of a slow client: one part every PACE_MS (slowhttptest sends a few bytes per interval). */
const PACE_MS = 100;

interface SlowClient {
  /** Everything the front sent back, once it closed the connection. */
  readonly reply: Promise<string>;
  readonly socket: net.Socket;
}

/** Sends `head` at once, then one part every PACE_MS; `beforeLast` runs just before the last part goes out. */
function slowClient(port: number, head: string, parts: readonly string[], beforeLast: () => void): SlowClient {
  const socket = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  const reply = once(socket, 'close').then(() => Buffer.concat(chunks).toString('latin1'));
  socket.write(head);
  void (async () => {
    for (const [index, part] of parts.entries()) {
      await delay(PACE_MS);
      if (socket.destroyed) return;
      if (index === parts.length - 1) beforeLast();
      socket.write(part);
    }
  })();
  return { reply, socket };
}

/** Resolves once the front has taken `count` requests (its handler has run for each). */
function frontTakes(front: Front, count: number): Promise<void> {
  let taken = 0;
  return new Promise((resolve) => {
    front.server.on('request', () => {
      taken += 1;
      if (taken === count) resolve();
    });
  });
}

function bodyOf(text: string): string {
  return text.slice(text.indexOf('\r\n\r\n') + 4);
}

t.test('which bodies are read whole first', async (t) => {
  t.equal(buffersBody(1024, 1024), true, 'declared, at the bound');
  t.equal(buffersBody(1025, 1024), false, 'declared, past it: streams');
  t.equal(buffersBody(undefined, 1024), true, 'chunked: read until it ends or passes the bound');
  t.equal(buffersBody(10, 0), false, '0 turns buffering off');
  t.equal(PROXY_DEFAULTS.bufferBodyBytes, 64 * 1024);
  t.throws(() => createProxyHandler({ ...PROXY_DEFAULTS, upstreams: [], bufferBodyBytes: -1, logger: createLogger({ tier: 'web', level: 'silent' }) }), RangeError);
});

t.test('slow small bodies hold no upstream slot: a GET gets 200 at once, the upstream sees each only when complete', { timeout: 10_000 }, async (t) => {
  const SLOW = 4;
  const BODY = 'slow-body-12';
  const seen: string[] = [];
  const finished = new Set<string>();
  const early: string[] = [];
  const upstream = await startUpstream(t, (req, res) => {
    const url = req.url ?? '';
    seen.push(url);
    if (url.startsWith('/api/echo/slow') && !finished.has(url)) early.push(url);
    echo(req, res);
  });
  // Two slots and two queue places: without buffering, the slow bodies take both slots and fill
  // the queue, and the GET is turned away (503). With it, the four complete bodies fit once ready.
  const front = await startFront(t, { upstreams: [upstream.url], maxSocketsPerUpstream: 2, maxQueue: 2, queueTimeoutMs: 2_000, activeHealth: false });
  const taken = frontTakes(front, SLOW);
  const clients = Array.from({ length: SLOW }, (_, index) => {
    const path = `/api/echo/slow-${index}`;
    const head = `POST ${path} HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\nContent-Length: ${BODY.length}\r\n\r\n`;
    return slowClient(front.port, head, [...BODY], () => finished.add(path));
  });
  t.teardown(() => {
    for (const client of clients) client.socket.destroy();
  });
  await taken;
  const fast = await request(front.port, { path: '/api/echo/fast' });
  t.equal(fast.status, 200, 'a normal request still goes through');
  t.equal(finished.size, 0, 'before any slow body was complete');
  t.same(seen, ['/api/echo/fast'], 'the upstream has seen none of the slow requests yet');
  t.equal(front.handler.stats().queueFull + front.handler.stats().queueTimeouts, 0);

  const replies = await Promise.all(clients.map((client) => client.reply));
  for (const [index, text] of replies.entries()) {
    t.match(text, /^HTTP\/1\.1 200 /, `slow client ${index} answered`);
    t.equal((JSON.parse(bodyOf(text)) as { body: string }).body, BODY);
  }
  t.same(early, [], 'no slow request reached the upstream before its last byte was sent');
  t.equal(seen.length, SLOW + 1);
});

for (const engine of ['http-proxy', 'plain'] as const) t.test(`${engine}: a small chunked body is read whole too, and keeps its chunked framing`, { timeout: 10_000 }, async (t) => {
  let last = false;
  let early = false;
  const upstream = await startUpstream(t, (req, res) => {
    if (req.url === '/api/echo/chunked' && !last) early = true;
    echo(req, res);
  });
  const front = await startFront(t, { upstreams: [upstream.url], engine, maxSocketsPerUpstream: 1, maxQueue: 0, activeHealth: false });
  const taken = frontTakes(front, 1);
  const head = 'POST /api/echo/chunked HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n';
  const client = slowClient(front.port, head, ['3\r\nabc\r\n', '3\r\ndef\r\n', '0\r\n\r\n'], () => {
    last = true;
  });
  t.teardown(() => client.socket.destroy());
  await taken;
  t.equal((await request(front.port, { path: '/api/echo/fast' })).status, 200, 'the only slot is free meanwhile');
  const text = await client.reply;
  t.match(text, /^HTTP\/1\.1 200 /);
  const seen = JSON.parse(bodyOf(text)) as { body: string; headers: Record<string, string> };
  t.equal(seen.body, 'abcdef');
  t.equal(seen.headers['transfer-encoding'], 'chunked');
  t.equal(early, false, 'the upstream saw it only after its last chunk');
});

t.test('a client that leaves while its small body is being read never reaches the upstream', { timeout: 10_000 }, async (t) => {
  const seen: string[] = [];
  const upstream = await startUpstream(t, (req, res) => {
    seen.push(req.url ?? '');
    echo(req, res);
  });
  const log = captureLogger();
  const front = await startFront(t, { upstreams: [upstream.url], activeHealth: false, logger: log.logger });
  const firstBytes = new Promise<void>((resolve) => {
    front.server.once('request', (req: http.IncomingMessage) => req.once('data', () => resolve()));
  });
  const socket = net.connect(front.port, '127.0.0.1');
  socket.on('error', () => undefined);
  t.teardown(() => socket.destroy());
  socket.write('POST /api/echo/abort HTTP/1.1\r\nHost: a.test\r\nContent-Length: 100\r\n\r\n0123456789');
  await firstBytes;
  const gone = log.next((line) => line['msg'] === 'client went away; upstream request aborted');
  socket.destroy();
  await gone;
  t.equal((await request(front.port, { path: '/api/echo/after' })).status, 200);
  t.same(seen, ['/api/echo/after'], 'the abandoned request never went upstream');
  t.equal(upstream.connections(), 1);
});

t.test('a proxy closed while a small body was being read answers 503 and sends nothing upstream', { timeout: 5000 }, async (t) => {
  const upstream = await startUpstream(t, echo);
  const front = await startFront(t, { upstreams: [upstream.url], activeHealth: false });
  const firstBytes = new Promise<void>((resolve) => {
    front.server.once('request', (req: http.IncomingMessage) => req.once('data', () => resolve()));
  });
  const socket = net.connect(front.port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  t.teardown(() => socket.destroy());
  socket.write('POST /api/echo HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\nContent-Length: 10\r\n\r\n01234');
  await firstBytes;
  await front.handler.close();
  socket.write('56789');
  await once(socket, 'close');
  t.match(Buffer.concat(chunks).toString('latin1'), /^HTTP\/1\.1 503 /);
  t.equal(upstream.connections(), 0);
});

t.test('a small chunked body past the body limit: 413 while it is read, the upstream never contacted', async (t) => {
  const upstream = await startUpstream(t, echo);
  const front = await startFront(t, { upstreams: [upstream.url], maxBodyBytes: 1024, activeHealth: false });
  const socket = net.connect(front.port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  t.teardown(() => socket.destroy());
  socket.write(`POST /api/echo HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n${'a'.repeat(600)}\r\n258\r\n${'b'.repeat(600)}\r\n`);
  await once(socket, 'close');
  const text = Buffer.concat(chunks).toString('latin1');
  t.match(text, /^HTTP\/1\.1 413 /);
  t.match(text, /\r\nConnection: close\r\n/i);
  t.equal(upstream.connections(), 0);
});

/** An upstream that reports the first body bytes it reads, and echoes the whole body. */
async function watchingUpstream(t: Parameters<typeof startUpstream>[0]): Promise<{ url: string; firstBytes: Promise<void> }> {
  let seen: () => void = () => undefined;
  const firstBytes = new Promise<void>((resolve) => {
    seen = resolve;
  });
  const upstream = await startUpstream(t, (req, res) => {
    req.once('data', () => seen());
    echo(req, res);
  });
  return { url: upstream.url, firstBytes };
}

async function replyOf(req: http.ClientRequest): Promise<{ status: number; body: string }> {
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  res.setEncoding('utf8');
  let body = '';
  for await (const chunk of res) body += chunk as string;
  return { status: res.statusCode ?? 0, body };
}

t.test('a body declared past bufferBodyBytes streams: the upstream reads its first bytes before the client is done', { timeout: 5000 }, async (t) => {
  const upstream = await watchingUpstream(t);
  const front = await startFront(t, { upstreams: [upstream.url], bufferBodyBytes: 1024, activeHealth: false });
  const req = http.request({ host: '127.0.0.1', port: front.port, method: 'POST', path: '/api/echo', agent: false, headers: { 'content-length': 4096 } });
  req.write('a'.repeat(2048));
  await upstream.firstBytes;
  req.end('b'.repeat(2048));
  const reply = await replyOf(req);
  t.equal(reply.status, 200);
  t.equal(echoed({ status: 200, headers: {}, body: reply.body }).body, 'a'.repeat(2048) + 'b'.repeat(2048));
});

for (const engine of ['http-proxy', 'plain'] as const) t.test(`${engine}: a chunked body that grows past bufferBodyBytes streams on, what was read first included, in order`, { timeout: 5000 }, async (t) => {
  const upstream = await watchingUpstream(t);
  const front = await startFront(t, { upstreams: [upstream.url], engine, bufferBodyBytes: 1024, activeHealth: false });
  const req = http.request({ host: '127.0.0.1', port: front.port, method: 'POST', path: '/api/echo', agent: false });
  req.write('x'.repeat(500));
  req.write('a'.repeat(1000));
  await upstream.firstBytes;
  req.end('b'.repeat(500));
  const reply = await replyOf(req);
  t.equal(reply.status, 200);
  const seen = echoed({ status: 200, headers: {}, body: reply.body });
  t.equal(seen.body, 'x'.repeat(500) + 'a'.repeat(1000) + 'b'.repeat(500));
  t.equal(seen.headers['transfer-encoding'], 'chunked');
});
