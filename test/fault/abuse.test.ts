/**
 * Fault 6: abuse while serving. Hundreds of slowloris connections (headers dribbled a byte at a
 * time), a flood of idle connections that send nothing, a seeded fuzzer sending thousands of
 * malformed requests, and oversized bodies — all at the real web tier in front of a real app
 * tier. Normal requests must keep succeeding throughout, and the web tier's RSS stays bounded.
 */
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { describeLoad, MiB, rssBytes, runLoad, startStack } from '../helpers/load.js';

const SLOWLORIS = 300;
const IDLE = 300;
const FUZZ = 2000;
const FUZZ_PARALLEL = 16;
const HEADERS_TIMEOUT_MS = 2_000;

/** mulberry32: a tiny seeded PRNG, so a failing fuzz run can be replayed exactly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = [
  'GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'CONNECT', 'TRACE', 'G\u0000T', 'get', ' ',
  '/', '/api/echo', '/api/articles/', '/../../etc/passwd', '/%00', '/%zz', '/cgi-bin/hello.sh', '*', 'http://evil.example/',
  'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'HTTP/1.1 ', '\r\n', '\n', '\r', '\r\n\r\n',
  'Host: a', 'Host:', 'Host: a\r\nHost: b', 'Content-Length: 5', 'Content-Length: -1', 'Content-Length: 99999999999',
  'Content-Length: 3\r\nContent-Length: 4', 'Transfer-Encoding: chunked', 'Transfer-Encoding: gzip, chunked',
  'Transfer-Encoding: chunked\r\nContent-Length: 3', 'Expect: 100-continue', 'X: \u0001\u007f', ': novalue', 'Bad Header: x',
  '0\r\n\r\n', 'zz\r\n', 'ffffffffffffffff\r\n', 'A'.repeat(9000), '\u00ff\u00fe',
];

function fuzzRequest(random: () => number): Buffer {
  const parts: string[] = [];
  const count = 1 + Math.floor(random() * 10);
  for (let index = 0; index < count; index += 1) parts.push(PIECES[Math.floor(random() * PIECES.length)]!);
  const text = parts.join(random() < 0.5 ? ' ' : '\r\n');
  const bytes = Buffer.from(random() < 0.8 ? `${text}\r\n\r\n` : text, 'latin1');
  // Some flipped bytes on top.
  for (let flips = Math.floor(random() * 3); flips > 0; flips -= 1) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
  return bytes;
}

/** Sends bytes, resolves with the first response line (or '' when closed without one); bounded. */
function exchange(port: number, bytes: Buffer, halfClose: boolean): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(received.split('\r\n')[0] ?? '');
    };
    const timer = setTimeout(done, HEADERS_TIMEOUT_MS * 2);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.includes('\r\n')) done();
    });
    socket.on('error', done);
    socket.on('close', done);
    socket.on('connect', () => (halfClose ? socket.end(bytes) : socket.write(bytes)));
  });
}

function openMany(port: number, count: number): Promise<Socket[]> {
  return Promise.all(Array.from({ length: count }, () => new Promise<Socket>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined); // the server cutting an abuser is expected
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  })));
}

t.test('slowloris, idle flood, fuzzing and oversized bodies: normal requests keep succeeding, RSS bounded', async (t) => {
  // The abusers and the normal clients all come from 127.0.0.1: the per-peer connection cap is
  // off so that this stays a test of timeouts and parsing under abuse (peer-limits.test.ts tests the cap).
  const { web } = await startStack(t, { appWorkers: 1, webEnv: { WEB_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS), WEB_MAX_BODY: String(MiB), WEB_PEER_MAX_CONNECTIONS: '0' } });
  const warm = await runLoad({ url: `${web.url}/`, amount: 500, connections: 4 });
  t.equal(warm.non2xx + warm.errors, 0);
  const rssBefore = rssBytes(web.pid);

  // Slowloris: a request line and then one header byte every 200 ms, until the server cuts it.
  const slow = await openMany(web.port, SLOWLORIS);
  const idle = await openMany(web.port, IDLE);
  t.teardown(() => [...slow, ...idle].forEach((socket) => socket.destroy()));
  let cutSlow = 0;
  for (const socket of slow) {
    socket.once('close', () => (cutSlow += 1));
    socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  }
  const dribble = setInterval(() => slow.forEach((socket) => socket.destroyed || socket.write('X')), 200);
  t.teardown(() => clearInterval(dribble));

  const during = await runLoad({ url: `${web.url}/api/articles/`, amount: 1000, connections: 4 });
  t.equal(during.errors + during.non2xx, 0, `app requests during slowloris + idle flood: ${describeLoad(during)}`);
  const staticDuring = await runLoad({ url: `${web.url}/`, amount: 1000, connections: 4 });
  t.equal(staticDuring.errors + staticDuring.non2xx, 0, `static requests during slowloris + idle flood: ${describeLoad(staticDuring)}`);

  // The fuzzer, FUZZ_PARALLEL exchanges at a time, alongside a normal load.
  const random = prng(20261125);
  const firstLines = new Map<string, number>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < FUZZ) {
      next += 1;
      const line = await exchange(web.port, fuzzRequest(random), random() < 0.5);
      const key = /^HTTP\/1\.[01] (\d{3})/.exec(line)?.[1] ?? (line === '' ? 'closed' : 'other');
      firstLines.set(key, (firstLines.get(key) ?? 0) + 1);
    }
  };
  const [normalDuringFuzz] = await Promise.all([
    runLoad({ url: `${web.url}/api/echo`, amount: 1000, connections: 2 }),
    ...Array.from({ length: FUZZ_PARALLEL }, worker),
  ]);
  t.comment(`fuzz (seed 20261125, ${FUZZ} requests): ${[...firstLines].map(([key, count]) => `${key}×${count}`).join(' ')}`);
  t.notOk(firstLines.has('500'), 'no malformed request caused a 500');
  t.equal(normalDuringFuzz.errors + normalDuringFuzz.non2xx, 0, `normal requests during fuzzing: ${describeLoad(normalDuringFuzz)}`);

  // Oversized bodies: declared (Content-Length) and chunked, to the app path.
  const oversized: string[] = [];
  for (let index = 0; index < 10; index += 1) {
    const declared = `POST /api/echo HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: ${2 * MiB}\r\n\r\n${'x'.repeat(64 * 1024)}`;
    const chunk = 'y'.repeat(256 * 1024);
    const chunked = `POST /api/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${`${chunk.length.toString(16)}\r\n${chunk}\r\n`.repeat(6)}0\r\n\r\n`;
    oversized.push(await exchange(web.port, Buffer.from(declared), false), await exchange(web.port, Buffer.from(chunked), false));
  }
  t.comment(`oversized bodies: ${[...new Set(oversized)].join(' | ')}`);
  t.ok(oversized.every((line) => line === '' || /^HTTP\/1\.1 413 /.test(line)), 'oversized bodies get 413 (or the connection cut)');
  t.ok(oversized.some((line) => /^HTTP\/1\.1 413 /.test(line)), 'at least the declared ones are told 413');

  const after = await runLoad({ url: `${web.url}/api/articles/`, amount: 500, connections: 4 });
  t.equal(after.errors + after.non2xx, 0, `after the abuse: ${describeLoad(after)}`);
  t.ok(cutSlow >= SLOWLORIS * 0.9, `the web tier cut ${cutSlow} of ${SLOWLORIS} slowloris connections (headers timeout ${HEADERS_TIMEOUT_MS} ms)`);
  const rssAfter = rssBytes(web.pid);
  t.comment(`web tier RSS before ${(rssBefore / MiB).toFixed(1)} MiB, after ${(rssAfter / MiB).toFixed(1)} MiB`);
  // Generous: catches a leak per connection or per fuzz request, not allocator noise.
  t.ok(rssAfter < rssBefore + 150 * MiB, 'RSS grew by less than 150 MiB');
});
