import t from 'tap';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import type { AppRequest, AppResponse, Application } from '../../common/app-interface.js';
import { TwotierError } from '../../common/errors.js';
import { createLogger, type Logger } from '../../common/logger.js';
import type { RequestContext, RequestHandler } from '../../web-tier/context.js';
import { loadConfig } from '../../web-tier/config.js';
import { createEmbeddedApp, createEmbeddedHandler } from '../../web-tier/embedded.js';
import { createApp } from '../../app-tier/app/create-app.js';
import { startWeb, withOverrides } from '../helpers/web-tier.js';
import { openStore } from '../../app-tier/store/index.js';

const silent = createLogger({ tier: 'web', level: 'silent' });

let lastCtx: RequestContext | undefined;

/** A stand-in for server.ts: one context per request, then the embedded handler. */
async function serve(t: { teardown(fn: () => void): void }, handler: RequestHandler, logger: Logger = silent): Promise<string> {
  let counter = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    counter += 1;
    const url = new URL(req.url ?? '/', 'http://localhost');
    const requestId = `req-${counter}`;
    const ctx: RequestContext = { requestId, startedAt: process.hrtime.bigint(), logger: logger.child({ reqId: requestId }), pathname: url.pathname, search: url.search, servedBy: 'web' };
    handler.handle(req, res, ctx);
    lastCtx = ctx;
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function stubApp(handle: (request: AppRequest) => Promise<AppResponse>): Application & { closes: number } {
  const app = {
    closes: 0,
    handle,
    async close() {
      app.closes += 1;
    },
  };
  return app;
}

t.test('the app answers in-process through the application interface', async (t) => {
  let seen: AppRequest | undefined;
  const app = stubApp(async (request) => {
    seen = request;
    return { status: 201, headers: { 'Content-Type': 'text/plain', 'X-App': 'yes' }, body: `got ${new TextDecoder().decode(request.body)}` };
  });
  const handler = createEmbeddedHandler({ app, logger: silent });
  const base = await serve(t, handler);
  const response = await fetch(`${base}/api/things?q=%20x`, { method: 'POST', body: 'hello', headers: { 'X-Request-Id': 'ignored-here' } });
  t.equal(response.status, 201);
  t.equal(response.headers.get('x-served-by'), 'embedded');
  t.equal(response.headers.get('x-app'), 'yes');
  t.equal(await response.text(), 'got hello');
  t.equal(lastCtx?.servedBy, 'embedded', 'the access log sees the embedded mode');
  t.equal(seen?.method, 'POST');
  t.equal(seen?.target, '/api/things?q=%20x', 'the target is passed undecoded');
  t.equal(seen?.requestId, lastCtx?.requestId, 'the request id is the web tier\'s');
  t.equal(seen?.localPort, Number(new URL(base).port));
});

/** GET with headers node's fetch refuses (Connection); resolves when the response has ended. */
function rawGet(base: string, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { headers, agent: false }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(15_000, () => req.destroy(new Error('timed out')));
    req.once('error', reject);
    req.end();
  });
}

t.test('the app sees the edge fields the proxy would set, not the client\'s (issue 12: the three modes see the same fields)', async (t) => {
  const seen: AppRequest[] = [];
  const app = stubApp(async (request) => {
    seen.push(request);
    return { status: 204, headers: {}, body: null };
  });
  const forged = {
    'X-Forwarded-For': '6.6.6.6', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Port': '443', 'X-Real-IP': '6.6.6.6',
    Forwarded: 'for=6.6.6.6;proto=https', 'X-Request-Id': 'forged', Via: '1.0 forged', Proxy: 'http://evil.example', Host: 'site.example',
    Connection: 'close, x-forwarded-for, x-real-ip, X-Hop', 'X-Hop': 'gone',
  };
  t.equal(await rawGet(await serve(t, createEmbeddedHandler({ app, logger: silent })), '/api/echo', forged), 204);
  const headers = seen[0]?.headers ?? {};
  t.equal(headers['x-forwarded-for'], '127.0.0.1', 'the peer, not the client\'s claim');
  t.equal(headers['x-forwarded-proto'], 'http', 'a plain-http client cannot claim https (the CSRF cookie stays without Secure)');
  t.equal(headers['x-forwarded-host'], 'site.example');
  t.equal(headers['x-real-ip'], '127.0.0.1');
  t.equal(headers['forwarded'], 'for=127.0.0.1;host=site.example;proto=http');
  t.equal(headers['x-request-id'], lastCtx?.requestId, 'the web tier\'s request id');
  t.equal(headers['via'], '1.0 forged, 1.1 twotier-web');
  t.notOk('x-forwarded-port' in headers, 'other X-Forwarded-* only from a trusted proxy');
  t.notOk('proxy' in headers, 'httpoxy');
  t.notOk('x-hop' in headers || 'connection' in headers, 'hop-by-hop fields go');

  const trusted = createEmbeddedHandler({ app, logger: silent, trustedProxies: ['127.0.0.1'] });
  t.equal(await rawGet(await serve(t, trusted), '/api/echo', forged), 204);
  const fromProxy = seen[1]?.headers ?? {};
  t.equal(fromProxy['x-forwarded-for'], '6.6.6.6, 127.0.0.1', 'a trusted proxy\'s chain is kept, then the peer');
  t.equal(fromProxy['x-forwarded-proto'], 'https', 'a trusted proxy\'s proto is kept (issue 12 item 6)');
  t.equal(fromProxy['x-real-ip'], '6.6.6.6');
});

t.test('a reload\'s WEB_TRUSTED_PROXIES reaches the embedded app (server.ts reload → reconfigure)', async (t) => {
  const seen: AppRequest[] = [];
  const app = stubApp(async (request) => {
    seen.push(request);
    return { status: 204, headers: {}, body: null };
  });
  const forged = { 'X-Forwarded-For': '6.6.6.6', 'X-Forwarded-Proto': 'https' };
  const handler = createEmbeddedHandler({ app, logger: silent, trustedProxies: ['127.0.0.1'] });
  const base = await serve(t, handler);
  await rawGet(base, '/', forged);
  handler.reconfigure({ server: { trustedProxies: [] } });
  await rawGet(base, '/', forged);
  handler.reconfigure({ server: { trustedProxies: ['::ffff:127.0.0.1'] } });
  await rawGet(base, '/', forged);
  t.same(seen.map((request) => [request.headers['x-forwarded-for'], request.headers['x-forwarded-proto']]), [
    ['6.6.6.6, 127.0.0.1', 'https'],
    ['127.0.0.1', 'http'],
    ['6.6.6.6, 127.0.0.1', 'https'],
  ], 'trusted, then not, then again (an IPv4-mapped address names the same peer)');
});

t.test('the web server\'s reload hands WEB_TRUSTED_PROXIES to the embedded app', async (t) => {
  const seen: AppRequest[] = [];
  const app = stubApp(async (request) => {
    seen.push(request);
    return { status: 204, headers: {}, body: null };
  });
  const { web, origin, config } = await startWeb(t, { config: { server: { dynamic: 'embedded' } }, handlers: { app: createEmbeddedHandler({ app, logger: silent }) } });
  const forged = { 'X-Forwarded-For': '6.6.6.6', 'X-Forwarded-Proto': 'https' };
  t.equal(await rawGet(origin, '/api/echo', forged), 204);
  const result = await web.reload(withOverrides(config, { server: { trustedProxies: ['127.0.0.1'] } }));
  t.ok(result.applied.includes('server.trustedProxies'), 'applied, not "restart needed"');
  t.equal(await rawGet(origin, '/api/echo', forged), 204);
  t.same(seen.map((request) => request.headers['x-forwarded-for']), ['127.0.0.1', '6.6.6.6, 127.0.0.1']);
});

t.test('an application that throws becomes a 500 with the request id, logged, and the server keeps serving', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter((line) => line !== ''));
      done();
    },
  });
  const logger = createLogger({ tier: 'web', level: 'error', destination: sink });
  let fail = true;
  const app = stubApp(async () => {
    if (fail) throw new Error('database exploded at /secret/path');
    return { status: 200, headers: {}, body: 'fine' };
  });
  const base = await serve(t, createEmbeddedHandler({ app, logger }), logger);
  const response = await fetch(`${base}/api/x`);
  t.equal(response.status, 500);
  t.equal(response.headers.get('x-served-by'), 'embedded');
  const body = (await response.json()) as { error: { code: string; requestId: string } };
  t.equal(body.error.code, 'APP_ERR_INTERNAL');
  t.equal(body.error.requestId, response.headers.get('x-request-id'));
  t.notMatch(JSON.stringify(body), /secret/, 'no internals reach the client');
  t.ok(lines.some((line) => /database exploded/.test(line)), 'the cause is in the log');
  fail = false;
  const again = await fetch(`${base}/api/x`);
  t.equal(again.status, 200);
  t.equal(await again.text(), 'fine');
});

t.test('a TwotierError keeps its status and headers', async (t) => {
  const app = stubApp(async () => {
    throw new TwotierError('WEB_ERR_BODY_TOO_LARGE', 'too big', { headers: { Connection: 'close' } });
  });
  const base = await serve(t, createEmbeddedHandler({ app, logger: silent }));
  const response = await fetch(`${base}/page`, { headers: { Accept: 'text/html' } });
  t.equal(response.status, 413);
  t.match(await response.text(), /Request id: <code>req-\d+<\/code>/);
});

t.test('close() waits for requests inside the app, then closes it once', async (t) => {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let entered: () => void = () => undefined;
  const inside = new Promise<void>((resolve) => {
    entered = resolve;
  });
  let busy = 0;
  let closedWhileBusy = false;
  const app = stubApp(async () => {
    busy += 1;
    entered();
    await gate;
    busy -= 1;
    return { status: 200, headers: {}, body: 'late but whole' };
  });
  const closeApp = app.close;
  app.close = async () => {
    closedWhileBusy ||= busy > 0;
    await closeApp();
  };
  const handler = createEmbeddedHandler({ app, logger: silent });
  const base = await serve(t, handler);
  const pending = fetch(`${base}/slow`);
  await inside;
  const closing = handler.close();
  t.equal(app.closes, 0, 'the app stays open while a request is inside it');
  release();
  const response = await pending;
  t.equal(await response.text(), 'late but whole');
  await closing;
  await handler.close();
  t.equal(app.closes, 1, 'closed exactly once');
  t.notOk(closedWhileBusy, 'the app was not closed under a running request');
});

t.test('the real application: echo and articles answer as when called directly', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-embedded-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = await openStore(`sqlite:${join(dir, 'embedded.db')}`, { logger: silent, seed: false });
  const app = createApp({ store, logger: silent });
  const handler = createEmbeddedHandler({ app, logger: silent });
  t.teardown(() => handler.close());
  const base = await serve(t, handler);
  const port = Number(new URL(base).port);
  const direct = (request: Partial<AppRequest> & Pick<AppRequest, 'method' | 'target'>): Promise<AppResponse> =>
    app.handle({ httpVersion: '1.1', headers: {}, body: new Uint8Array(), remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '127.0.0.1', localPort: port, requestId: 'direct', ...request });
  const text = async (response: AppResponse): Promise<string> => {
    const { bodyToBuffer } = await import('../../common/app-interface.js');
    return (await bodyToBuffer(response.body)).toString('utf8');
  };

  const echoed = await fetch(`${base}/api/echo/a%2Fb?x=1`, { method: 'PUT', body: 'ping' });
  t.equal(echoed.status, 200);
  t.equal(echoed.headers.get('x-served-by'), 'embedded');
  const overHttp = (await echoed.json()) as { headers: Record<string, string>; worker: { pid: number; port: number } };
  t.equal(overHttp.worker.pid, process.pid, 'answered by the web tier\'s own process');
  t.equal(overHttp.worker.port, port);
  const directEcho = await direct({ method: 'PUT', target: '/api/echo/a%2Fb?x=1', headers: overHttp.headers, body: new TextEncoder().encode('ping') });
  t.same(overHttp, JSON.parse(await text(directEcho)), 'the echo is the same whichever way the app is called');

  const created = await fetch(`${base}/api/articles/`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ title: 'Embedded mode', body: 'Same app, no hop.', published: '2003-05-17T10:00:00.000Z' }),
  });
  t.equal(created.status, 201);
  const location = created.headers.get('location') ?? '';
  t.match(location, /^\/api\/articles\/\d+\/$/);
  const createdBody = await created.json();
  const readOverHttp = await fetch(`${base}${location}`);
  t.equal(readOverHttp.status, 200);
  const readJson = await readOverHttp.json();
  t.same(readJson, createdBody);
  const readDirect = await direct({ method: 'GET', target: location });
  t.equal(readDirect.status, 200);
  t.same(JSON.parse(await text(readDirect)), readJson, 'an article read is the same embedded and direct');
  const missing = await fetch(`${base}/api/articles/999999/`);
  t.equal(missing.status, 404);
  t.equal(missing.headers.get('x-served-by'), 'embedded');
});

t.test('createEmbeddedApp: the app built from the web tier\'s config enforces its APP_TOKEN like the app tier', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-embedded-token-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = loadConfig(undefined, { WEB_DYNAMIC: 'embedded', APP_TOKEN: 'embedded-SECRET', DATABASE_URL: `sqlite:${join(dir, 'embedded.db')}` });
  const handler = await createEmbeddedApp(config, silent);
  t.teardown(() => handler.close());
  const base = await serve(t, handler);
  const post = (headers: Record<string, string>): Promise<Response> =>
    fetch(`${base}/api/articles/`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify({ title: 'Token', body: 'x' }) });
  const bare = await post({});
  t.equal(bare.status, 401);
  t.equal(bare.headers.get('www-authenticate'), 'Bearer realm="twotier"');
  const wrong = await post({ Authorization: 'Bearer nope' });
  t.equal(wrong.status, 401);
  t.equal(wrong.headers.get('www-authenticate'), 'Bearer realm="twotier", error="invalid_token"');
  t.equal((await fetch(`${base}/api/articles/1/`, { method: 'DELETE' })).status, 401);
  t.equal((await post({ Authorization: 'Bearer embedded-SECRET' })).status, 201);
  t.equal((await fetch(`${base}/api/articles/`)).status, 200, 'reads need no token');
});
