import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { echo, echoed, rawExchange, request, startFront, startUpstream } from './helpers.js';

const LIMIT = 1024;

function chunkedRequest(path: string, parts: readonly string[]): string {
  const chunks = parts.map((part) => `${Buffer.byteLength(part).toString(16)}\r\n${part}\r\n`).join('');
  return `POST ${path} HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}0\r\n\r\n`;
}

t.test('a chunked body past the limit: 413, the connection closed, the upstream request aborted', { timeout: 5000 }, async (t) => {
  let firstData: () => void = () => undefined;
  const started = new Promise<void>((resolve) => {
    firstData = resolve;
  });
  let ended: Promise<{ aborted: boolean; bytes: number }> | undefined;
  const upstream = await startUpstream(t, (req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      firstData();
    });
    req.on('end', () => res.end(String(bytes)));
    ended = new Promise((resolve) => res.once('close', () => resolve({ aborted: !res.writableFinished, bytes })));
  });
  // bufferBodyBytes 0: a streamed body (a small one is read whole first: request-buffering.test.ts).
  const front = await startFront(t, { upstreams: [upstream.url], maxBodyBytes: LIMIT, bufferBodyBytes: 0 });
  const socket = net.connect(front.port, '127.0.0.1');
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  socket.write(`POST /api/upload HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n${'a'.repeat(600)}\r\n`);
  await started;
  // The second chunk crosses the limit while the upstream already holds the first.
  socket.write(`258\r\n${'b'.repeat(600)}\r\n0\r\n\r\n`);
  await once(socket, 'close');
  const text = Buffer.concat(received).toString('latin1');
  t.match(text, /^HTTP\/1\.1 413 /);
  t.match(text, /\r\nConnection: close\r\n/i);
  t.match(text, /WEB_ERR_BODY_TOO_LARGE/);
  t.equal(text.indexOf('HTTP/1.1', 1), -1, 'one response only');
  const outcome = await ended;
  t.equal(outcome?.aborted, true, 'the upstream never got a complete request');
  t.ok((outcome?.bytes ?? 0) <= LIMIT, 'and never more than the limit');
});

t.test('a chunked body past the limit in one write: 413 and closed, nothing complete upstream', { timeout: 5000 }, async (t) => {
  const upstream = await startUpstream(t, echo);
  const front = await startFront(t, { upstreams: [upstream.url], maxBodyBytes: LIMIT });
  // rawExchange resolves only when the server closes the connection.
  const text = await rawExchange(front.port, chunkedRequest('/api/upload', ['a'.repeat(600), 'b'.repeat(600)]));
  t.match(text, /^HTTP\/1\.1 413 /);
  t.match(text, /\r\nConnection: close\r\n/i);
});

t.test('a body exactly at the limit passes, chunked or with Content-Length', async (t) => {
  const upstream = await startUpstream(t, echo);
  // bufferBodyBytes 0: streamed (a buffered chunked body goes upstream with its length: request-buffering.test.ts).
  const front = await startFront(t, { upstreams: [upstream.url], maxBodyBytes: LIMIT, bufferBodyBytes: 0 });
  const chunked = await rawExchange(front.port, chunkedRequest('/api/upload', ['a'.repeat(1000), 'b'.repeat(24)]).replace('Host: a.test\r\n', 'Host: a.test\r\nConnection: close\r\n'));
  t.match(chunked, /^HTTP\/1\.1 200 /);
  const echoedBody = (JSON.parse(chunked.slice(chunked.indexOf('\r\n\r\n') + 4)) as { body: string; headers: Record<string, string> });
  t.equal(echoedBody.body.length, LIMIT);
  t.equal(echoedBody.headers['transfer-encoding'], 'chunked', 'streamed on with chunked framing');
  const sized = await request(front.port, { method: 'PUT', body: 'x'.repeat(LIMIT) });
  t.equal(sized.status, 200);
  t.equal(echoed(sized).body.length, LIMIT);
  t.equal(echoed(sized).headers['content-length'], String(LIMIT));
});

t.test('a declared Content-Length past the limit: 413 before the upstream is contacted', async (t) => {
  const upstream = await startUpstream(t, echo);
  const front = await startFront(t, { upstreams: [upstream.url], maxBodyBytes: LIMIT });
  const text = await rawExchange(front.port, `POST /api/upload HTTP/1.1\r\nHost: a.test\r\nContent-Length: ${LIMIT + 1}\r\n\r\n`);
  t.match(text, /^HTTP\/1\.1 413 /);
  t.match(text, /\r\nConnection: close\r\n/i);
  t.equal(upstream.connections(), 0);
});

t.test('a chunked DELETE keeps its framing: no zero-length request followed by stray bytes', async (t) => {
  const upstream = await startUpstream(t, echo);
  const front = await startFront(t, { upstreams: [upstream.url] });
  const text = await rawExchange(front.port, chunkedRequest('/api/items/1', ['GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n']).replace('POST', 'DELETE').replace('Host: a.test\r\n', 'Host: a.test\r\nConnection: close\r\n'));
  const seen = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { method: string; body: string };
  t.equal(seen.method, 'DELETE');
  t.equal(seen.body, 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n', 'the app read it as the body');
  t.equal(upstream.connections(), 1);
});

t.test('the body streams through: the app sees the first chunk before the client sends the rest (http-proxy#180)', { timeout: 5000 }, async (t) => {
  let firstChunk: (text: string) => void = () => undefined;
  const firstArrived = new Promise<string>((resolve) => {
    firstChunk = resolve;
  });
  const upstream = await startUpstream(t, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      if (chunks.length === 0) firstChunk(chunk.toString('utf8'));
      chunks.push(chunk);
    });
    req.on('end', () => res.end(Buffer.concat(chunks)));
  });
  // Buffering off: a body this small is otherwise read whole first (request-buffering.test.ts).
  const front = await startFront(t, { upstreams: [upstream.url], bufferBodyBytes: 0 });
  const req = http.request({ host: '127.0.0.1', port: front.port, method: 'POST', path: '/api/stream', agent: false });
  req.write('first;');
  t.equal(await firstArrived, 'first;');
  req.end('second');
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  res.setEncoding('utf8');
  let body = '';
  for await (const chunk of res) body += chunk as string;
  t.equal(body, 'first;second');
});

t.test('a client abort while waiting reaches the upstream (http-proxy#1586, #1559)', { timeout: 5000 }, async (t) => {
  let arrived: (res: http.ServerResponse) => void = () => undefined;
  const held = new Promise<http.ServerResponse>((resolve) => {
    arrived = resolve;
  });
  const upstream = await startUpstream(t, (_req, res) => arrived(res));
  const front = await startFront(t, { upstreams: [upstream.url], responseTimeoutMs: 20_000 });
  const req = http.request({ host: '127.0.0.1', port: front.port, path: '/api/long-poll', agent: false });
  req.on('error', () => undefined);
  req.end();
  const upstreamRes = await held;
  const closed = once(upstreamRes, 'close');
  req.destroy();
  await closed;
  t.equal(upstreamRes.writableFinished, false, 'the upstream saw its request go away unanswered');
});

t.test('a client abort in the middle of a body reaches the upstream too', { timeout: 5000 }, async (t) => {
  let arrived: (res: http.ServerResponse) => void = () => undefined;
  const started = new Promise<http.ServerResponse>((resolve) => {
    arrived = resolve;
  });
  const upstream = await startUpstream(t, (req, res) => {
    req.once('data', () => arrived(res));
    req.resume();
  });
  // A body that streams (buffering off); one still being buffered never reaches the upstream.
  const front = await startFront(t, { upstreams: [upstream.url], responseTimeoutMs: 20_000, bufferBodyBytes: 0 });
  const req = http.request({ host: '127.0.0.1', port: front.port, method: 'POST', path: '/api/upload', agent: false });
  req.on('error', () => undefined);
  req.write('part one');
  const upstreamRes = await started;
  const closed = once(upstreamRes, 'close');
  req.destroy();
  await closed;
  t.equal(upstreamRes.writableFinished, false);
});
