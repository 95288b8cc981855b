/**
 * Request buffering (body-buffer.ts): a body is read whole (in memory, then a temp file) before
 * its request waits for an upstream slot, so slowhttptest's "slow body" (R-U-Dead-Yet) and slow
 * uploads cannot hold the app tier's slots; under a streaming prefix a body still streams.
 */
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buffersBody } from '../../../web-tier/proxy/body-buffer.js';
import { loadConfig } from '../../../web-tier/config.js';
import { PROXY_DEFAULTS } from '../../../web-tier/proxy/config.js';
import { filesUnder, openInto } from './spill-helpers.js';
import { captureLogger, echo, echoed, rawExchange, refusedUrl, request, startFront, startUpstream, type Front } from './helpers.js';

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
  t.equal(buffersBody('/api/echo', 1024, []), true, 'any body, whatever its declared length or chunked: read whole (memory, then a temp file)');
  t.equal(buffersBody('/upload/big', 1024, ['/upload/']), false, 'under a streaming prefix: streams');
  t.equal(buffersBody('/api/echo', 1024, ['/upload/']), true, 'outside it: read whole');
  t.equal(buffersBody('/api/echo', 0, []), false, '0 turns buffering off');
  t.equal(PROXY_DEFAULTS.bufferBodyBytes, 64 * 1024);
  t.same(PROXY_DEFAULTS.streamBodyPrefixes, []);
  // Refused where config is validated, once (web-tier/config.ts), naming the setting; the handler trusts it.
  t.throws(() => loadConfig(undefined, { WEB_PROXY_BUFFER_BODY: '-1' }), { code: 'CONFIG_INVALID', key: 'WEB_PROXY_BUFFER_BODY' });
  t.throws(() => loadConfig(undefined, { WEB_PROXY_STREAM_BODY_PREFIXES: 'upload/' }), { code: 'CONFIG_INVALID', key: 'WEB_PROXY_STREAM_BODY_PREFIXES' });
  t.throws(() => loadConfig(undefined, { WEB_PROXY_BODY_TEMP_MAX_BYTES: '-1' }), { code: 'CONFIG_INVALID', key: 'WEB_PROXY_BODY_TEMP_MAX_BYTES' });
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
  const front = await startFront(t, { upstreams: [upstream.url], maxSocketsPerUpstream: 2, maxQueue: 2, queueTimeoutMs: 2_000, activeHealth: { intervalMs: 0 } });
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

for (const engine of ['http-proxy', 'plain'] as const) t.test(`${engine}: a small chunked body is read whole too, and goes upstream with the web tier's framing (its length)`, { timeout: 10_000 }, async (t) => {
  let last = false;
  let early = false;
  const upstream = await startUpstream(t, (req, res) => {
    if (req.url === '/api/echo/chunked' && !last) early = true;
    echo(req, res);
  });
  const front = await startFront(t, { upstreams: [upstream.url], engine, maxSocketsPerUpstream: 1, maxQueue: 0, activeHealth: { intervalMs: 0 } });
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
  t.equal(seen.headers['content-length'], '6', 'framed by the web tier: the buffered length');
  t.equal(seen.headers['transfer-encoding'], undefined, 'the client\'s chunked framing is not forwarded');
  t.equal(early, false, 'the upstream saw it only after its last chunk');
});

t.test('a client that leaves while its small body is being read never reaches the upstream', { timeout: 10_000 }, async (t) => {
  const seen: string[] = [];
  const upstream = await startUpstream(t, (req, res) => {
    seen.push(req.url ?? '');
    echo(req, res);
  });
  const log = captureLogger();
  const front = await startFront(t, { upstreams: [upstream.url], activeHealth: { intervalMs: 0 }, logger: log.logger });
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
  const front = await startFront(t, { upstreams: [upstream.url], activeHealth: { intervalMs: 0 } });
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
  const front = await startFront(t, { upstreams: [upstream.url], maxBodyBytes: 1024, activeHealth: { intervalMs: 0 } });
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

t.test('under a streaming prefix, a body declared past bufferBodyBytes streams: the upstream reads its first bytes before the client is done', { timeout: 5000 }, async (t) => {
  const upstream = await watchingUpstream(t);
  const front = await startFront(t, { upstreams: [upstream.url], bufferBodyBytes: 1024, streamBodyPrefixes: ['/api/'], activeHealth: { intervalMs: 0 } });
  const req = http.request({ host: '127.0.0.1', port: front.port, method: 'POST', path: '/api/echo', agent: false, headers: { 'content-length': 4096 } });
  req.write('a'.repeat(2048));
  await upstream.firstBytes;
  req.end('b'.repeat(2048));
  const reply = await replyOf(req);
  t.equal(reply.status, 200);
  t.equal(echoed({ status: 200, headers: {}, body: reply.body }).body, 'a'.repeat(2048) + 'b'.repeat(2048));
});

for (const engine of ['http-proxy', 'plain'] as const) t.test(`${engine}: under a streaming prefix, a chunked body streams, in order, with its chunked framing`, { timeout: 5000 }, async (t) => {
  const upstream = await watchingUpstream(t);
  const front = await startFront(t, { upstreams: [upstream.url], engine, bufferBodyBytes: 1024, streamBodyPrefixes: ['/api/'], activeHealth: { intervalMs: 0 } });
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

/** Waits (bounded) until no descriptor of this process points into `dir`: the spilled body was given back. */
async function givenBack(dir: string): Promise<string[]> {
  let open = openInto(dir);
  for (let tries = 0; open.length > 0 && tries < 200; tries += 1) {
    await delay(10);
    open = openInto(dir);
  }
  return open;
}

/** Waits (bounded) until a body has spilled into `dir`. */
async function spilled(dir: string): Promise<void> {
  for (let tries = 0; openInto(dir).length === 0 && tries < 500; tries += 1) await delay(10);
}

const SPILL = { bufferBodyBytes: 1024, activeHealth: { intervalMs: 0 } } as const;
const BIG = 'L'.repeat(200 * 1024);

for (const engine of ['http-proxy', 'plain'] as const) t.test(`${engine}: a body past bufferBodyBytes is spilled to a temp file, sent whole with its length, and the file given back`, { timeout: 10_000 }, async (t) => {
  const dir = t.testdir({});
  const upstream = await startUpstream(t, echo);
  const front = await startFront(t, { upstreams: [upstream.url], engine, ...SPILL, bodyTempDir: dir });
  const reply = await request(front.port, { method: 'POST', body: BIG, headers: { 'transfer-encoding': 'chunked' } });
  t.equal(reply.status, 200);
  const seen = echoed(reply);
  t.equal(seen.body, BIG);
  t.equal(seen.headers['content-length'], String(BIG.length));
  t.equal(seen.headers['transfer-encoding'], undefined);
  t.same(await givenBack(dir), [], 'descriptor closed');
  t.same(filesUnder(dir), [], 'temp dir empty');
});

t.test('a slow large upload (spilled) holds no upstream slot: a GET gets 200 meanwhile, the upstream sees the upload only whole', { timeout: 10_000 }, async (t) => {
  const dir = t.testdir({});
  let early = false;
  let last = false;
  const upstream = await startUpstream(t, (req, res) => {
    if (req.url === '/api/echo/upload' && !last) early = true;
    echo(req, res);
  });
  const front = await startFront(t, { upstreams: [upstream.url], maxSocketsPerUpstream: 1, maxQueue: 0, ...SPILL, bodyTempDir: dir });
  const half = 'h'.repeat(100 * 1024);
  const client = slowClient(front.port, `POST /api/echo/upload HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\nContent-Length: ${half.length * 2 + 2}\r\n\r\n${half}`, [half, 'e', 'n'], () => {
    last = true;
  });
  t.teardown(() => client.socket.destroy());
  await spilled(dir);
  t.equal((await request(front.port, { path: '/api/echo/fast' })).status, 200, 'the only slot is free meanwhile');
  const text = await client.reply;
  t.match(text, /^HTTP\/1\.1 200 /);
  t.equal((JSON.parse(bodyOf(text)) as { body: string }).body.length, half.length * 2 + 2);
  t.equal(early, false, 'the upstream saw it only after its last byte');
  t.same(await givenBack(dir), []);
});

t.test('a client that leaves mid-body after the spill: never sent upstream, the file given back', { timeout: 10_000 }, async (t) => {
  const dir = t.testdir({});
  const seen: string[] = [];
  const upstream = await startUpstream(t, (req, res) => {
    seen.push(req.url ?? '');
    echo(req, res);
  });
  const front = await startFront(t, { upstreams: [upstream.url], ...SPILL, bodyTempDir: dir });
  const socket = net.connect(front.port, '127.0.0.1');
  socket.on('error', () => undefined);
  t.teardown(() => socket.destroy());
  socket.write(`POST /api/echo/abort HTTP/1.1\r\nHost: a.test\r\nContent-Length: ${BIG.length}\r\n\r\n${BIG.slice(0, 50_000)}`);
  await spilled(dir);
  t.equal(openInto(dir).length, 1, 'spilled');
  socket.destroy();
  t.same(await givenBack(dir), [], 'descriptor closed');
  t.same(filesUnder(dir), []);
  t.equal((await request(front.port, { path: '/api/echo/after' })).status, 200);
  t.same(seen, ['/api/echo/after']);
});

t.test('a chunked body that grows past the body limit after the spill: 413, the file given back', { timeout: 10_000 }, async (t) => {
  const dir = t.testdir({});
  const upstream = await startUpstream(t, echo);
  const front = await startFront(t, { upstreams: [upstream.url], maxBodyBytes: 8 * 1024, ...SPILL, bodyTempDir: dir });
  const text = await rawExchange(front.port, `POST /api/echo HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n${'a'.repeat(4096)}\r\n1000\r\n${'b'.repeat(4096)}\r\n1000\r\n${'c'.repeat(4096)}\r\n0\r\n\r\n`);
  t.match(text, /^HTTP\/1\.1 413 /);
  t.equal(upstream.connections(), 0);
  t.same(await givenBack(dir), []);
  t.same(filesUnder(dir), []);
});

t.test('upstream failures after the spill (reset → 502, no answer → 504): the file given back', { timeout: 10_000 }, async (t) => {
  const dir = t.testdir({});
  const upstream = await startUpstream(t, (req, res) => {
    if (req.url === '/api/echo/reset') req.socket.destroy();
    else if (req.url === '/api/echo/stall') req.resume();
    else echo(req, res);
  });
  const front = await startFront(t, { upstreams: [upstream.url], responseTimeoutMs: 300, ...SPILL, bodyTempDir: dir });
  t.equal((await request(front.port, { method: 'POST', path: '/api/echo/reset', body: BIG })).status, 502);
  t.same(await givenBack(dir), [], 'after a reset');
  t.equal((await request(front.port, { method: 'POST', path: '/api/echo/stall', body: BIG })).status, 504);
  t.same(await givenBack(dir), [], 'after a timeout');
  t.same(filesUnder(dir), []);
});

t.test('a refused upstream: the spilled copy is resent to the next one (within maxReplayBodyBytes)', { timeout: 10_000 }, async (t) => {
  const dir = t.testdir({});
  const dead = await refusedUrl();
  const upstream = await startUpstream(t, echo);
  const front = await startFront(t, { upstreams: [dead, upstream.url], maxReplayBodyBytes: 1024 * 1024, ...SPILL, bodyTempDir: dir });
  const reply = await request(front.port, { method: 'POST', body: BIG });
  t.equal(reply.status, 200);
  t.equal(echoed(reply).body, BIG, 'resent whole, from the temp file');
  t.equal(front.handler.stats().retries, 1);
  t.same(await givenBack(dir), []);
});

t.test('a proxy closed while a large body was being spilled: 503, the file given back and the directory removed', { timeout: 10_000 }, async (t) => {
  const dir = t.testdir({});
  const upstream = await startUpstream(t, echo);
  const front = await startFront(t, { upstreams: [upstream.url], ...SPILL, bodyTempDir: dir });
  const socket = net.connect(front.port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  t.teardown(() => socket.destroy());
  socket.write(`POST /api/echo HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\nContent-Length: ${BIG.length}\r\n\r\n${BIG.slice(0, 50_000)}`);
  await spilled(dir);
  await front.handler.close();
  socket.write(BIG.slice(50_000));
  await once(socket, 'close');
  t.match(Buffer.concat(chunks).toString('latin1'), /^HTTP\/1\.1 503 /);
  t.equal(upstream.connections(), 0);
  t.same(await givenBack(dir), []);
  t.same(readdirSync(dir), [], 'the private directory is gone');
});

t.test('temp space: past bodyTempMaxBytes → 503 + Retry-After; a temp dir that cannot be made → 500, logged; the upstream never contacted', { timeout: 10_000 }, async (t) => {
  const dir = t.testdir({ 'not-a-dir': 'a file' });
  const upstream = await startUpstream(t, echo);
  const full = await startFront(t, { upstreams: [upstream.url], ...SPILL, bodyTempDir: dir, bodyTempMaxBytes: 100 * 1024 });
  const over = await request(full.port, { method: 'POST', body: BIG });
  t.equal(over.status, 503);
  t.equal(over.headers['retry-after'], '1');
  t.equal((JSON.parse(over.body) as { error: { code: string } }).error.code, 'WEB_ERR_OVERLOADED');
  // The 503 may reach the client before the refused body's temp file is closed and its bytes given
  // back (CI at ef104cd sent the next body in that gap and got a 503): wait for the file first.
  t.same(await givenBack(dir), [], 'the refused body gave its temp space back');
  t.equal((await request(full.port, { method: 'POST', body: 'x'.repeat(50 * 1024) })).status, 200, 'a body within the budget still goes through');
  const log = captureLogger();
  const broken = await startFront(t, { upstreams: [upstream.url], ...SPILL, bodyTempDir: join(dir, 'not-a-dir', 'tmp'), logger: log.logger });
  const failed = await request(broken.port, { method: 'POST', body: BIG });
  t.equal(failed.status, 500);
  t.equal((JSON.parse(failed.body) as { error: { code: string } }).error.code, 'WEB_ERR_INTERNAL');
  t.ok(log.lines().some((line) => line['msg'] === 'request body could not be buffered' && line['level'] === 50), 'logged at error level');
  t.equal(upstream.connections(), 1, 'only the body within the budget reached the upstream');
  t.same(await givenBack(dir), []);
});
