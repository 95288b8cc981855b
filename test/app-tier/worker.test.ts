import t, { type Test } from 'tap';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { createLogger } from '../../common/logger.js';
import type { AppRequest, AppResponse, Application } from '../../common/app-interface.js';
import { createWorkerServer, type WorkerServer } from '../../app-tier/worker.js';
import { DEFAULTS } from '../../app-tier/config.js';

interface Reply { status: number; headers: IncomingHttpHeaders; rawHeaders: string[]; body: Buffer }

function get(address: AddressInfo, path: string, options: { method?: string; headers?: Record<string, string | string[]>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: address.address, port: address.port, path, method: options.method ?? 'GET', headers: options.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A test double for the Application: a few routes that exercise the adapter. */
function stubApp(): Application & { seen: AppRequest[]; gates: Map<string, () => void>; arrived: PassThrough; iteratorClosed: boolean } {
  const gates = new Map<string, () => void>();
  const arrived = new PassThrough({ objectMode: true });
  const stub = {
    seen: [] as AppRequest[],
    gates,
    arrived,
    iteratorClosed: false,
    async handle(request: AppRequest): Promise<AppResponse> {
      stub.seen.push(request);
      const path = request.target.split('?')[0] ?? '';
      if (path === '/throw') throw new Error('boom');
      if (path.startsWith('/slow/') || path.startsWith('/stream-slow/')) {
        const name = path.split('/')[2] ?? '';
        const released = new Promise<void>((resolve) => gates.set(name, resolve));
        arrived.write(name);
        if (path.startsWith('/slow/')) {
          await released;
          return { status: 200, headers: { 'Content-Type': 'text/plain' }, body: `done ${name}` };
        }
        return { status: 200, headers: { 'Content-Type': 'text/plain' }, body: (async function* () { yield Buffer.from('first '); await released; yield Buffer.from('second'); })() };
      }
      if (path === '/empty') return { status: 204, headers: {}, body: null };
      if (path === '/nothing') return { status: 200, headers: {}, body: null };
      if (path === '/stream-error') {
        return { status: 200, headers: {}, body: (async function* () { yield Buffer.from('partial'); throw new Error('source failed'); })() };
      }
      if (path === '/big') {
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        return { status: 200, headers: {}, body: (async function* () {
          try { for (let i = 0; i < 64; i += 1) yield chunk; } finally { stub.iteratorClosed = true; }
        })() };
      }
      return {
        status: 201,
        headers: { 'Content-Type': 'application/json', 'Set-Cookie': ['a=1', 'b=2'] },
        body: JSON.stringify({ method: request.method, target: request.target, headers: request.headers, body: Buffer.from(request.body).toString('utf8'), requestId: request.requestId }),
      };
    },
    async close(): Promise<void> {},
  };
  return stub;
}

async function start(t: Test, overrides: Partial<typeof DEFAULTS> = {}): Promise<{ worker: WorkerServer; address: AddressInfo; app: ReturnType<typeof stubApp>; lines: Record<string, unknown>[] }> {
  const lines: Record<string, unknown>[] = [];
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => { for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>); });
  const logger = createLogger({ tier: 'app', level: 'info', destination: sink });
  const app = stubApp();
  const worker = createWorkerServer({ config: { ...DEFAULTS, port: 0, ...overrides }, logger, app });
  t.equal(worker.state, 'starting');
  const address = await worker.listen();
  t.teardown(() => worker.close());
  return { worker, address, app, lines };
}

function rawConnect(address: AddressInfo): Promise<Socket> {
  const socket = connect(address.port, address.address);
  return once(socket, 'connect').then(() => socket);
}

function readAll(socket: Socket): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return once(socket, 'close').then(() => Buffer.concat(chunks).toString('latin1'));
}

t.test('health and readiness, request ids, access log', async (t) => {
  const { worker, address, lines } = await start(t);
  t.equal(worker.state, 'ready');
  t.equal(worker.server.keepAliveTimeout, DEFAULTS.keepAliveTimeoutMs);
  t.ok(worker.server.headersTimeout > worker.server.keepAliveTimeout);
  const health = await get(address, '/healthz', { headers: { 'X-Request-Id': 'abc-123' } });
  t.equal(health.status, 200);
  t.same(JSON.parse(health.body.toString()), { status: 'ok' });
  t.equal(health.headers['x-request-id'], 'abc-123', 'an incoming request id is kept');
  const ready = await get(address, '/readyz?probe=1');
  t.equal(ready.status, 200);
  t.match(ready.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'generated when absent');
  const odd = await get(address, '/healthz', { headers: { 'X-Request-Id': 'bad id <script>' } });
  t.not(odd.headers['x-request-id'], 'bad id <script>', 'a malformed id is replaced');
  const post = await get(address, '/healthz', { method: 'POST' });
  t.equal(post.status, 405);
  t.equal(post.headers.allow, 'GET, HEAD');
  const head = await get(address, '/healthz', { method: 'HEAD' });
  t.equal(head.body.length, 0);

  const line = lines.find((entry) => entry['msg'] === 'request' && entry['reqId'] === 'abc-123');
  t.match(line, { method: 'GET', url: '/healthz', status: 200, pid: process.pid, tier: 'app' });
  t.type(line?.['ms'], 'number');
});

t.test('requests reach the application through the adapter', async (t) => {
  const { address, app } = await start(t);
  const reply = await get(address, '/things/%7Ex?q=a%20b', {
    method: 'POST',
    headers: { 'X-Multi': ['one', 'two'], Cookie: 'c=1', 'Content-Type': 'text/plain', 'X-Request-Id': 'r-1' },
    body: 'héllo',
  });
  t.equal(reply.status, 201);
  const seen = JSON.parse(reply.body.toString()) as { method: string; target: string; headers: Record<string, string>; body: string; requestId: string };
  t.equal(seen.target, '/things/%7Ex?q=a%20b', 'the target exactly as received');
  t.equal(seen.headers['x-multi'], 'one, two', 'repeated fields joined');
  t.equal(seen.body, 'héllo');
  t.equal(seen.requestId, 'r-1');
  t.equal(reply.headers['content-length'], String(reply.body.length), 'a known-length body gets Content-Length');
  t.same(reply.headers['set-cookie'], ['a=1', 'b=2'], 'array headers become one field line each');
  const request = app.seen.at(-1);
  t.equal(request?.localPort, address.port);
  t.equal(request?.remoteAddress, '127.0.0.1');
  t.equal(request?.httpVersion, '1.1');
});

t.test('framing: 204 gets no Content-Length, an empty 200 gets 0, HEAD keeps what the app says', async (t) => {
  const { address } = await start(t);
  const empty = await get(address, '/empty');
  t.equal(empty.status, 204);
  t.equal(empty.headers['content-length'], undefined);
  t.equal(empty.headers['transfer-encoding'], undefined);
  const nothing = await get(address, '/nothing');
  t.equal(nothing.headers['content-length'], '0');
  const head = await get(address, '/nothing', { method: 'HEAD' });
  t.equal(head.headers['content-length'], undefined, 'no invented length for HEAD');
});

t.test('a streamed body arrives whole; an early disconnect stops the stream', async (t) => {
  const { address, app } = await start(t);
  const big = await get(address, '/big');
  t.equal(big.body.length, 64 * 64 * 1024);
  t.equal(big.headers['transfer-encoding'], 'chunked');
  t.ok(app.iteratorClosed);

  app.iteratorClosed = false;
  const socket = await rawConnect(address);
  socket.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
  await once(socket, 'data');
  socket.destroy();
  // The iterator's finally runs once the adapter notices the client is gone (backpressure
  // keeps it from writing all 4 MiB into memory first).
  while (!app.iteratorClosed) await new Promise((resolve) => setImmediate(resolve));
  t.pass('stream closed after the client left');
});

t.test('a stream that fails after the head is sent cuts the connection (no complete-looking response)', async (t) => {
  const { address } = await start(t);
  const outcome = await get(address, '/stream-error').then(() => 'complete', (error: NodeJS.ErrnoException) => error.code ?? error.message);
  t.not(outcome, 'complete');
  t.equal((await get(address, '/healthz')).status, 200, 'still serving');
});

t.test('a client that leaves mid-body is not answered and not logged as an error', async (t) => {
  const { address, app, lines } = await start(t);
  const socket = await rawConnect(address);
  socket.write('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npart');
  const closed = once(socket, 'close');
  await new Promise((resolve) => setImmediate(resolve));
  socket.destroy();
  await closed;
  const logged = new Promise<void>((resolve) => {
    const check = (): void => { if (lines.some((line) => line['url'] === '/echo')) resolve(); else setImmediate(check); };
    check();
  });
  await logged;
  t.notOk(lines.some((line) => line['level'] === 50), 'no error line');
  t.equal(app.seen.length, 0, 'the application never saw a half request');
});

t.test('an exception escaping the application → 500 with the request id, and the worker keeps serving', async (t) => {
  const app = { handle: async (): Promise<AppResponse> => { throw new Error('escaped'); }, close: async () => {} };
  const worker = createWorkerServer({ config: { ...DEFAULTS, port: 0 }, logger: createLogger({ tier: 'app', level: 'silent' }), app });
  const address = await worker.listen();
  t.teardown(() => worker.close());
  const reply = await get(address, '/x', { headers: { 'X-Request-Id': 'fail-1' } });
  t.equal(reply.status, 500);
  t.match(JSON.parse(reply.body.toString()), { error: { code: 'APP_ERR_INTERNAL', requestId: 'fail-1' } });
  t.notMatch(reply.body.toString(), /escaped|at /, 'no message or stack on the wire');
  t.equal((await get(address, '/healthz')).status, 200);
});

t.test('graceful close finishes an in-flight request, with Connection: close', async (t) => {
  const { worker, address, app } = await start(t);
  const slow = get(address, '/slow/a', { headers: { Connection: 'keep-alive' } });
  await once(app.arrived, 'data');
  // A socket counts as idle once it has had a request answered (one that never spoke is
  // still under headersTimeout, and is cut by the shutdown timeout instead).
  const idle = await rawConnect(address);
  const idleClosed = once(idle, 'close');
  idle.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  await once(idle, 'data');
  const closed = worker.close();
  t.equal(worker.state, 'draining');
  await idleClosed;
  t.pass('an idle keep-alive socket is closed at once');
  const refused = await get(address, '/healthz').then(() => 'answered', (error: NodeJS.ErrnoException) => error.code);
  t.equal(refused, 'ECONNREFUSED', 'no new connections while draining');
  app.gates.get('a')?.();
  const reply = await slow;
  t.equal(reply.status, 200);
  t.equal(reply.body.toString(), 'done a');
  t.equal(reply.headers.connection, 'close');
  await closed;
  t.pass('close() resolved after the in-flight request');
});

t.test('readyz says 503 while draining; a response already under way keeps its socket until done', async (t) => {
  const { worker, address, app } = await start(t);
  const socket = await rawConnect(address);
  const text = readAll(socket);
  socket.write('GET /stream-slow/b HTTP/1.1\r\nHost: x\r\n\r\n');
  await once(app.arrived, 'data');
  await once(socket, 'data');
  const closed = worker.close();
  const parsed = once(worker.server, 'request');
  socket.write('GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n');
  await parsed;
  app.gates.get('b')?.();
  const wire = await text;
  t.match(wire, /first [^]*second\r\n0\r\n\r\nHTTP/, 'the streamed response completes first');
  t.match(wire, /HTTP\/1\.1 503[^]*Connection: close[^]*"status":"draining"/);
  await closed;
});

t.test('a request that outlives shutdownTimeoutMs is cut and close() still resolves', async (t) => {
  const { worker, address, app } = await start(t, { shutdownTimeoutMs: 150 });
  const slow = get(address, '/slow/never').then(() => 'answered', (error: NodeJS.ErrnoException) => error.code);
  await once(app.arrived, 'data');
  const started = Date.now();
  await worker.close();
  t.ok(Date.now() - started >= 100, 'waited for the timeout');
  t.equal(await slow, 'ECONNRESET');
  app.gates.get('never')?.();
});

t.test('a keep-alive socket whose response was under way is closed when it ends, not at keepAliveTimeout', async (t) => {
  const { worker, address, app } = await start(t, { shutdownTimeoutMs: 3_000 });
  const socket = await rawConnect(address);
  const text = readAll(socket);
  socket.write('GET /stream-slow/c HTTP/1.1\r\nHost: x\r\n\r\n');
  await once(app.arrived, 'data');
  await once(socket, 'data');
  const started = Date.now();
  const closed = worker.close();
  app.gates.get('c')?.();
  await closed;
  t.ok(Date.now() - started < 2_000, 'close() did not wait for the shutdown timeout');
  t.match(await text, /second\r\n0\r\n\r\n$/);
});

t.test('on drain an idle keep-alive connection stays usable for the grace: its next request gets Connection: close', async (t) => {
  const { worker, address } = await start(t, { drainGraceMs: 2_000 });
  const socket = await rawConnect(address);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.write('GET /api/echo HTTP/1.1\r\nHost: localhost\r\n\r\n');
  await once(socket, 'data');
  const closing = worker.close();
  // Idle now, and draining: http.Server#close would have reset this socket (Node ≥ 19).
  const reply = readAll(socket);
  socket.write('POST /api/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nhi');
  const text = await reply;
  t.match(text, /^HTTP\/1\.1 201 Created\r\n[^]*Connection: close\r\n[^]*"body":"hi"/, 'the second request was answered, with Connection: close');
  await closing;
});

t.test('application requests: the access line carries the request id; a level above info writes none', async (t) => {
  const { address, lines } = await start(t);
  const answered = await get(address, '/api/thing?x=1', { headers: { 'X-Request-Id': 'app-req-1' } });
  t.equal(answered.status, 201);
  t.match(lines.find((entry) => entry['msg'] === 'request' && entry['reqId'] === 'app-req-1'), { tier: 'app', method: 'GET', url: '/api/thing?x=1', status: 201, service: 'app' });

  const quiet: Record<string, unknown>[] = [];
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => { for (const line of chunk.toString().split('\n').filter(Boolean)) quiet.push(JSON.parse(line) as Record<string, unknown>); });
  const worker = createWorkerServer({ config: { ...DEFAULTS, port: 0 }, logger: createLogger({ tier: 'app', level: 'warn', destination: sink }), app: stubApp() });
  const where = await worker.listen();
  t.teardown(() => worker.close());
  const reply = await get(where, '/api/thing', { headers: { 'X-Request-Id': 'app-req-2' } });
  t.equal(reply.headers['x-request-id'], 'app-req-2', 'the id is still answered');
  t.same(quiet.filter((entry) => entry['msg'] === 'request'), [], 'no access line at warn');
});
