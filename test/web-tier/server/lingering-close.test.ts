/**
 * An early error answer (413, 431, 414, 400) must reach a client that is still sending its
 * request, as browsers and fetch do: they write the whole body before they read. Closing
 * with the body still arriving makes the kernel send RST, and the client's kernel then drops
 * the unread answer. The web tier closes lingering (nginx lingering_close): FIN, then reads and
 * discards for a bounded time and byte count.
 */
import t from 'tap';
import { connect } from 'node:net';
import { connectionLifetimes, openHalfOpen, parseResponses } from '../../helpers/raw-http.js';
import { fakeHandlers, startWeb } from '../../helpers/web-tier.js';

const MiB = 1024 * 1024;

interface Outcome {
  readonly raw: string;
  /** The client's write side failed (EPIPE/ECONNRESET): the server stopped reading. */
  readonly writeError: string | undefined;
  readonly readError: string | undefined;
  readonly closed: boolean;
}

/**
 * Like a browser: writes the head and the whole body first, and reads only once its writes are
 * done (or failed), then reads until the server closes (bounded).
 */
function sendThenRead(port: number, head: string, bodyBytes: number, timeoutMs = 15_000): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.pause();
    let raw = '';
    let writeError: string | undefined;
    let readError: string | undefined;
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ raw, writeError, readError, closed });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (raw += chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (socket.isPaused()) writeError = error.code;
      else readError = error.code;
      // The data already received is all there will be.
      finish(true);
    });
    socket.on('end', () => finish(true));
    socket.on('connect', () => {
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      socket.write(head);
      let left = bodyBytes;
      const next = (): void => {
        if (left <= 0) {
          socket.resume();
          return;
        }
        const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
        left -= piece.length;
        socket.write(piece, (error) => {
          if (error !== null && error !== undefined) {
            writeError = (error as NodeJS.ErrnoException).code ?? error.message;
            socket.resume();
            return;
          }
          next();
        });
      };
      next();
    });
  });
}

const H = 'Host: a\r\n';

t.test('a 413 (Content-Length one byte over the limit) reaches a client that sends its whole body right after the head', async (t) => {
  const handlers = fakeHandlers();
  // Bigger than what loopback's socket buffers take in at once, or the whole body would be
  // written before the close and the RST would not hit the client's writes.
  const body = 32 * MiB + 1;
  const { port, log } = await startWeb(t, { handlers, config: { limits: { maxBodyBytes: body - 1, lingeringMaxBytes: 64 * MiB } } });
  const outcome = await sendThenRead(port, `POST /api/upload HTTP/1.1\r\n${H}Content-Type: application/octet-stream\r\nContent-Length: ${body}\r\n\r\n`, body);
  const responses = parseResponses(outcome.raw, true);
  t.equal(responses[0]?.status, 413, `answered 413 (write error: ${outcome.writeError ?? 'none'}, read error: ${outcome.readError ?? 'none'})`);
  t.equal(responses[0]?.headers['connection'], 'close');
  t.equal(responses.length, 1, 'one response');
  t.ok(outcome.closed, 'then the server closed');
  t.same(handlers.app.calls, [], 'the app never saw it');
  await log.waitForAccessLines(1);
});

t.test('431, 414 and 400 with a body in flight also reach the client', async (t) => {
  const { port } = await startWeb(t, { handlers: fakeHandlers(), config: { limits: { maxBodyBytes: 32 * MiB, lingeringMaxBytes: 64 * MiB } } });
  const body = 16 * MiB;
  const cases: readonly [string, string, number][] = [
    ['header section over the parser limit', `POST /api/x HTTP/1.1\r\n${H}X-Big: ${'b'.repeat(40_000)}\r\nContent-Length: ${body}\r\n\r\n`, 431],
    ['request-target over the limit', `POST /api/${'u'.repeat(40_000)} HTTP/1.1\r\n${H}Content-Length: ${body}\r\n\r\n`, 414],
    ['duplicate Host', `POST /api/x HTTP/1.1\r\n${H}Host: b\r\nContent-Length: ${body}\r\n\r\n`, 400],
    ['bad header name (parser error)', `POST /api/x HTTP/1.1\r\n${H}Bad Header: x\r\nContent-Length: ${body}\r\n\r\n`, 400],
  ];
  for (const [name, head, status] of cases) {
    const outcome = await sendThenRead(port, head, body);
    t.equal(parseResponses(outcome.raw, true)[0]?.status, status, `${name} → ${status} (write error: ${outcome.writeError ?? 'none'})`);
    t.ok(outcome.closed, `${name}: closed`);
  }
});

t.test('the linger is bounded: by time, by idle time, and by bytes', async (t) => {
  const { port, web } = await startWeb(t, {
    handlers: fakeHandlers(),
    config: { limits: { maxBodyBytes: 10, lingeringTimeMs: 2_000, lingeringTimeoutMs: 300, lingeringMaxBytes: 256 * 1024 } },
  });
  // Measured at the server: when it lets go of the connection.
  const serverClosed = connectionLifetimes(web.server, 3);
  const head = `POST /api/x HTTP/1.1\r\n${H}Content-Length: 100000000\r\n\r\n`;

  // A client that keeps trickling (never idle, few bytes) is cut at lingeringTimeMs.
  const trickler = openHalfOpen(t, port);
  trickler.socket.write(head);
  const drip = setInterval(() => trickler.socket.writable && trickler.socket.write('x'), 50);
  t.teardown(() => clearInterval(drip));
  const trickled = await serverClosed[0];
  clearInterval(drip);
  t.match(trickler.received(), /^HTTP\/1\.1 413 /, 'the trickler got its 413');
  t.ok(trickled !== undefined && trickled >= 1_900 && trickled < 8_000, `a trickling client is cut after the lingering time (${trickled} ms, lingeringTimeMs 2000)`);

  // A client that goes quiet without closing is cut at lingeringTimeoutMs.
  const quiet = openHalfOpen(t, port);
  quiet.socket.write(head);
  const quietMs = await serverClosed[1];
  t.ok(quietMs !== undefined && quietMs >= 250 && quietMs < 1_500, `a quiet client is cut after the idle bound, well before the lingering time (${quietMs} ms, lingeringTimeoutMs 300)`);

  // A client that floods is cut once lingeringMaxBytes were discarded, before the lingering time.
  const flood = await sendThenRead(port, head, 64 * MiB, 10_000);
  const floodMs = await serverClosed[2];
  t.ok(flood.closed, `a flooding client is cut (write error: ${flood.writeError ?? 'none'})`);
  t.ok(floodMs < 1_500, `by the byte cap, before the lingering time (${floodMs} ms)`);
});

t.test('requests pipelined after a refused one are never answered, and a flood of them ends the connection', async (t) => {
  const handlers = fakeHandlers();
  const { port, web } = await startWeb(t, { handlers, config: { limits: { lingeringTimeMs: 10_000, lingeringTimeoutMs: 5_000 } } });
  const [serverClosed] = connectionLifetimes(web.server, 1);
  const refused = `GET /x HTTP/1.1\r\n${H}Host: b\r\n\r\n`;
  const client = openHalfOpen(t, port);
  client.socket.write(refused + `GET /index.html HTTP/1.1\r\n${H}\r\n`.repeat(40));
  const ms = await serverClosed;
  // The flood cut closes at once (the answer is flushed first, but an RST may still take it).
  t.ok(parseResponses(client.received(), true).every((response) => response.status === 400), 'nothing but the refusal is answered');
  t.same(handlers.static.calls, [], 'no handler saw the pipelined requests');
  t.ok(ms < 4_000, `the server let go after ${ms} ms, not at the lingering bounds (5 s idle, 10 s)`);
});
