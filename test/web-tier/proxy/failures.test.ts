import t from 'tap';
import http from 'node:http';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { captureLogger, echo, rawExchange, refusedUrl, request, startFront, startUpstream, type Teardown } from './helpers.js';
import { loadConfig } from '../../../web-tier/config.js';

interface ErrorBody {
  error: { status: number; code: string; requestId: string };
}

t.test('app stopped: 502 at once, a safe JSON body, and the keep-alive connection still serves', { timeout: 5000 }, async (t) => {
  const dead = await refusedUrl();
  // Long timeouts: a 502 within the test timeout can only come from the refused connect itself.
  const front = await startFront(t, { upstreams: [dead], connectTimeoutMs: 20_000, responseTimeoutMs: 20_000 });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());

  const first = await request(front.port, { path: '/api/items?x=1', agent });
  t.equal(first.status, 502);
  t.match(first.headers['content-type'], /application\/json/);
  const body = JSON.parse(first.body) as ErrorBody;
  t.equal(body.error.code, 'WEB_ERR_UPSTREAM_REFUSED');
  t.equal(body.error.requestId, front.contexts[0]?.requestId);
  t.equal(first.headers['x-request-id'], front.contexts[0]?.requestId);
  t.notMatch(first.body, /ECONNREFUSED|127\.0\.0\.1|\bat \w/, 'no errno, address or stack in the body');
  t.not(first.headers.connection, 'close');

  const second = await request(front.port, { path: '/api/items', agent });
  t.equal(second.status, 502);
  t.equal(front.connections(), 1, 'both answers came over the same client connection');
  t.equal(front.contexts[0]?.servedBy, 'app');
  t.equal(front.contexts[0]?.upstream, dead);
});

t.test('the proxy has an error listener: a refused connect without a client callback cannot crash (http-proxy#579)', { timeout: 5000 }, async (t) => {
  const front = await startFront(t, { upstreams: [await refusedUrl()] });
  const reply = await request(front.port, { method: 'HEAD', path: '/api/x' });
  t.equal(reply.status, 502);
  t.equal(reply.body, '', 'HEAD gets no body');
});

t.test('slow upstream: 504 after the response timeout, logged as a timeout', { timeout: 5000 }, async (t) => {
  const stalled: http.ServerResponse[] = [];
  const upstream = await startUpstream(t, (_req, res) => {
    stalled.push(res);
  });
  const { logger, lines } = captureLogger();
  const front = await startFront(t, { upstreams: [upstream.url], responseTimeoutMs: 200, logger });
  const reply = await request(front.port, { path: '/articles/slow/', headers: { accept: 'text/html' } });
  t.equal(reply.status, 504);
  t.match(reply.headers['content-type'], /text\/html/);
  t.match(reply.body, /504 Gateway Timeout/);
  const logged = lines().find((line) => line.code === 'WEB_ERR_UPSTREAM_TIMEOUT' && line.cause === 'UPSTREAM_TIMEOUT');
  t.equal(logged?.reqId, front.contexts[0]?.requestId, 'logged on the request’s child logger');
  t.equal(logged?.upstream, upstream.url);
  t.equal(stalled.length, 1);
});

/**
 * An upstream whose accept queue is full: the kernel drops further SYNs, so a connect hangs
 * (nothing else on loopback does). The child listens with backlog 1, then blocks its event loop.
 */
async function startUnacceptingUpstream(t: Teardown): Promise<string> {
  const child = spawn(process.execPath, ['-e', `
      const net = require('node:net');
      const server = net.createServer();
      server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
        process.send(server.address().port, () => {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20000);
        });
      });`], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const [port] = (await once(child, 'message')) as [number];
  // Two connections fill a backlog of 1 (Linux: full when queued > backlog).
  const fillers = [net.connect(port, '127.0.0.1'), net.connect(port, '127.0.0.1')];
  for (const filler of fillers) {
    filler.on('error', () => undefined);
    t.teardown(() => filler.destroy());
  }
  await Promise.all(fillers.map((filler) => once(filler, 'connect')));
  return `http://127.0.0.1:${port}`;
}

t.test('connect timeout: 504, told apart from a reset (http-proxy#1331)', { timeout: 8000 }, async (t) => {
  const url = await startUnacceptingUpstream(t);
  const { logger, lines } = captureLogger();
  const front = await startFront(t, { upstreams: [url], connectTimeoutMs: 200, responseTimeoutMs: 20_000, logger });
  const reply = await request(front.port, { path: '/api/x' });
  t.equal(reply.status, 504);
  t.equal((JSON.parse(reply.body) as ErrorBody).error.code, 'WEB_ERR_UPSTREAM_TIMEOUT');
  t.ok(lines().some((line) => line.cause === 'UPSTREAM_TIMEOUT'));
});

t.test('no upstream configured: 503 with Retry-After', async (t) => {
  const front = await startFront(t, { upstreams: [] });
  const reply = await request(front.port);
  t.equal(reply.status, 503);
  t.match(reply.headers['retry-after'], /^\d+$/);
  t.equal((JSON.parse(reply.body) as ErrorBody).error.code, 'WEB_ERR_UPSTREAM_UNAVAILABLE');
  t.equal(front.handler.hasHealthyUpstream(), false);
});

t.test('an upstream that keeps failing is taken out: 503 + Retry-After, and its state says why', { timeout: 5000 }, async (t) => {
  const dead = await refusedUrl();
  const front = await startFront(t, { upstreams: [dead], passiveHealth: { maxFails: 1, failTimeoutMs: 30_000 } });
  t.equal(front.handler.hasHealthyUpstream(), true);
  t.equal((await request(front.port)).status, 502);
  t.equal(front.handler.hasHealthyUpstream(), false);
  t.match(front.handler.upstreamStates(), [{ url: dead, healthy: false, state: 'down', failures: 1, lastError: 'ECONNREFUSED' }]);
  const reply = await request(front.port);
  t.equal(reply.status, 503);
  t.equal(reply.headers['retry-after'], '30');
});

t.test('requests spread round-robin over the upstreams', async (t) => {
  const a = await startUpstream(t, echo);
  const b = await startUpstream(t, echo);
  const front = await startFront(t, { upstreams: [a.url, b.url] });
  for (let index = 0; index < 4; index += 1) t.equal((await request(front.port)).status, 200);
  t.same(front.contexts.map((ctx) => ctx.upstream), [a.url, b.url, a.url, b.url]);
});

t.test('a reset mid-response cuts the client response instead of leaving it hanging', { timeout: 5000 }, async (t) => {
  const upstream = await startUpstream(t, (_req, res) => {
    res.writeHead(200, { 'content-length': '100' });
    res.write('partial', () => res.socket?.destroy());
  });
  const front = await startFront(t, { upstreams: [upstream.url] });
  const req = http.request({ host: '127.0.0.1', port: front.port, path: '/api/x', agent: false });
  req.end();
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  t.equal(res.statusCode, 200);
  res.resume();
  const [error] = (await once(res, 'error')) as [NodeJS.ErrnoException];
  t.equal(error.code, 'ECONNRESET');
});

t.test('after close(): pooled connections are gone and new requests get 503', async (t) => {
  const upstream = await startUpstream(t, echo);
  const front = await startFront(t, { upstreams: [upstream.url] });
  t.equal((await request(front.port)).status, 200);
  const [socket] = [...upstream.open];
  const closed = socket === undefined ? Promise.resolve() : once(socket, 'close');
  await front.handler.close();
  await closed;
  t.equal(upstream.open.size, 0, 'the agent destroyed its sockets');
  const reply = await request(front.port);
  t.equal(reply.status, 503);
  t.ok(reply.headers['retry-after']);
});

t.test('an HTTP/1.0 client gets a close-delimited answer it can read', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => {
    res.write('chunk one, ');
    res.end('chunk two');
  });
  const front = await startFront(t, { upstreams: [upstream.url] });
  const text = await rawExchange(front.port, 'GET /api/x HTTP/1.0\r\n\r\n');
  t.match(text, /^HTTP\/1\.1 200 /);
  t.notMatch(text, /transfer-encoding/i);
  t.match(text, /\r\n\r\nchunk one, chunk two$/);
});

t.test('nonsense options are refused where config is validated (once), naming the option', async (t) => {
  t.throws(() => loadConfig(undefined, { WEB_PROXY_RESPONSE_TIMEOUT_MS: '0' }), { code: 'CONFIG_INVALID', key: 'WEB_PROXY_RESPONSE_TIMEOUT_MS' });
  t.throws(() => loadConfig(undefined, { WEB_PROXY_MAX_SOCKETS: '1.5' }), { code: 'CONFIG_INVALID', key: 'WEB_PROXY_MAX_SOCKETS' });
  t.throws(() => loadConfig(undefined, { WEB_MAX_BODY: '-1' }), { code: 'CONFIG_INVALID', key: 'WEB_MAX_BODY' });
  t.throws(() => loadConfig(undefined, { APP_UPSTREAMS: 'ftp://127.0.0.1:1' }), { code: 'CONFIG_INVALID', key: 'APP_UPSTREAMS', message: /must be an http/ });
  await t.rejects(startFront(t, { upstreams: ['ftp://127.0.0.1:1'] }), /must be http/);
});

t.test('an upstream that stalls mid-body: the response is cut after bodyIdleTimeoutMs, logged as a timeout', { timeout: 5000 }, async (t) => {
  const upstream = await startUpstream(t, (_req, res) => {
    res.writeHead(200, { 'content-length': '100' });
    res.write('first part');
  });
  const { logger, next } = captureLogger();
  const front = await startFront(t, { upstreams: [upstream.url], bodyIdleTimeoutMs: 150, responseTimeoutMs: 20_000, logger });
  const logged = next((line) => line.phase === 'body');
  const req = http.request({ host: '127.0.0.1', port: front.port, path: '/api/x', agent: false });
  req.end();
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  t.equal(res.statusCode, 200, 'the status was already out');
  const chunks: Buffer[] = [];
  res.on('data', (chunk: Buffer) => chunks.push(chunk));
  const [error] = (await once(res, 'error')) as [NodeJS.ErrnoException];
  t.equal(error.code, 'ECONNRESET', 'cut, so the client knows it is incomplete');
  t.equal(Buffer.concat(chunks).toString(), 'first part');
  t.match(await logged, { code: 'WEB_ERR_UPSTREAM_TIMEOUT', cause: 'UPSTREAM_TIMEOUT', upstream: upstream.url });
  t.match(front.handler.upstreamStates(), [{ failures: 1, lastError: 'UPSTREAM_TIMEOUT' }]);
});

t.test('a body that keeps coming, each chunk within bodyIdleTimeoutMs, is never cut however long it takes in all', { timeout: 5000 }, async (t) => {
  const chunks = 12;
  const upstream = await startUpstream(t, (_req, res) => {
    res.writeHead(200, { 'content-length': String(chunks) });
    let sent = 0;
    // The upstream's pace, not a wait in the test: 12 × 50 ms is longer than the 400 ms idle bound.
    const timer = setInterval(() => {
      res.write('x');
      sent += 1;
      if (sent === chunks) {
        clearInterval(timer);
        res.end();
      }
    }, 50);
    res.once('close', () => clearInterval(timer));
  });
  const front = await startFront(t, { upstreams: [upstream.url], bodyIdleTimeoutMs: 400 });
  const started = Date.now();
  const reply = await request(front.port);
  t.equal(reply.body, 'x'.repeat(chunks));
  t.ok(Date.now() - started > 400, 'it took longer than the idle bound in all');
});
