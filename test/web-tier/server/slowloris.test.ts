/**
 * The slowloris bound: a header section trickled in is cut at headersTimeout, within a second
 * of it, also while the server is busy. Node only checks for expired headers every
 * `connectionsCheckingInterval` ms (default 30 s; https://nodejs.org/docs/latest-v20.x/api/http.html#httpcreateserveroptions-requestlistener),
 * so the interval is what bounds the overshoot.
 */
import t from 'tap';
import { connect } from 'node:net';
import { checkingIntervalMs, serverOptions } from '../../../web-tier/limits.js';
import { DEFAULTS } from '../../../web-tier/config.js';
import { openSocket, untilClosed } from '../../helpers/raw-http.js';
import { fakeHandlers, startWeb } from '../../helpers/web-tier.js';

const H = 'Host: a\r\n';

t.test('the checking interval leaves room within a second of the default 20 s headersTimeout', async (t) => {
  t.equal(DEFAULTS.limits.headersTimeoutMs, 20_000);
  t.ok(checkingIntervalMs(DEFAULTS.limits.headersTimeoutMs) <= 500, `interval ${checkingIntervalMs(DEFAULTS.limits.headersTimeoutMs)} ms at the default`);
  t.ok(checkingIntervalMs(1_500) <= 375, 'a quarter of a short timeout');
  t.ok(checkingIntervalMs(1) >= 50, 'never a busy loop');
  const options = serverOptions({ maxBodyBytes: 1, maxUrlBytes: 1, maxHeaderBytes: 1, maxHeaderFields: 1, headersTimeoutMs: 20_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 1 });
  t.equal(options.connectionsCheckingInterval, checkingIntervalMs(20_000), 'handed to node');
});

t.test('a header trickled at one byte per 300 ms is cut within a second of headersTimeout, under load', async (t) => {
  const headersTimeoutMs = 1_500;
  const { port } = await startWeb(t, { handlers: fakeHandlers(), config: { limits: { headersTimeoutMs: headersTimeoutMs, requestTimeoutMs: 10_000 } } });
  // Load: keep-alive connections sending pipelined requests back to back while the trickle runs.
  let loading = true;
  let served = 0;
  const loaders = Array.from({ length: 2 }, () => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('error', () => undefined);
    let pending = '';
    const batch = `GET /index.html HTTP/1.1\r\n${H}\r\n`.repeat(10);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      pending += chunk;
      const done = pending.split('HTTP/1.1 200').length - 1;
      if (done >= 10) {
        served += done;
        pending = '';
        if (loading) socket.write(batch);
      }
    });
    socket.on('connect', () => socket.write(batch));
    return socket;
  });
  t.teardown(() => {
    loading = false;
    loaders.forEach((socket) => socket.destroy());
  });

  const socket = await openSocket(port);
  t.teardown(() => socket.destroy());
  const closed = untilClosed(socket);
  const started = Date.now();
  socket.write(`GET / HTTP/1.1\r\n${H}X-Slow: `);
  const drip = setInterval(() => socket.writable && socket.write('a'), 300);
  t.teardown(() => clearInterval(drip));
  const data = await closed;
  const elapsed = Date.now() - started;
  clearInterval(drip);
  loading = false;
  t.match(data, /^HTTP\/1\.1 408 /, 'answered 408');
  t.ok(elapsed >= headersTimeoutMs - 50, `not before the timeout (${elapsed} ms)`);
  t.ok(elapsed <= headersTimeoutMs + 1_000, `cut ${elapsed - headersTimeoutMs} ms after headersTimeout (bound: 1000 ms) while ${served} requests were served`);
});
