/**
 * fromNodeHandler: the examples/express app through the adapter (an http server that does what a
 * persistent worker does: toAppRequest → app.handle → writeAppResponse) answers exactly what the
 * same Express app answers on its own http.createServer: routing, the JSON body parser, a cookie,
 * a redirect, a streamed response, 404 and a malformed body. And a listener that fails fails only
 * its own request (a 500 with the request id, through the guard every APP_MODULE runs in).
 */
import t, { type Test } from 'tap';
import { once } from 'node:events';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { Application } from '../../common/app-interface.js';
import { guardApplication } from '../../common/app-guard.js';
import { fromNodeHandler } from '../../common/node-handler.js';
import { toAppRequest, writeAppResponse } from '../../common/node-adapter.js';
import { send, type Reply } from '../helpers/app-tier.js';

const EXPRESS_EXAMPLE = fileURLToPath(new URL('../../examples/express/app.js', import.meta.url));
const silent = pino({ level: 'silent' });

async function listen(t: Test, listener: RequestListener): Promise<string> {
  const server: Server = createServer(listener);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** What a persistent worker does with an Application (app-tier/worker.ts, without its extras). */
function serveApplication(app: Application): RequestListener {
  let next = 0;
  return (req, res) => {
    void (async () => {
      const request = await toAppRequest(req, `req-${(next += 1)}`);
      await writeAppResponse(res, await app.handle(request));
    })();
  };
}

interface Probe {
  readonly name: string;
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

const PROBES: readonly Probe[] = [
  { name: 'a route with a query', path: '/api/hello?name=Ada' },
  { name: 'the JSON body parser', method: 'POST', path: '/api/greetings', headers: { 'Content-Type': 'application/json' }, body: '{"name":"Grace"}' },
  { name: 'a JSON body that is not valid', method: 'POST', path: '/api/greetings', headers: { 'Content-Type': 'application/json' }, body: '{"name":' },
  { name: 'a JSON body without the field', method: 'POST', path: '/api/greetings', headers: { 'Content-Type': 'application/json' }, body: '{}' },
  { name: 'a cookie set', method: 'POST', path: '/api/login', headers: { 'Content-Type': 'application/json' }, body: '{"user":"ada lovelace"}' },
  { name: 'a cookie read', path: '/api/whoami', headers: { Cookie: 'user=ada%20lovelace' } },
  { name: 'a redirect', path: '/api/old-hello' },
  { name: 'a streamed response', path: '/api/count?to=2000' },
  { name: 'HEAD of a route', method: 'HEAD', path: '/api/hello' },
  { name: 'no such route', path: '/api/nothing-here' },
];

/** The parts of an answer that must agree (Date and framing are the server's own). */
function essence(reply: Reply): unknown {
  const { 'content-type': type, 'set-cookie': cookie, location, etag } = reply.headers;
  return { status: reply.status, type, cookie, location, etag, body: reply.text };
}

t.test('the Express example answers the same through fromNodeHandler as on its own http.createServer', async (t) => {
  const { createExpressApp } = (await import(EXPRESS_EXAMPLE)) as { createExpressApp: () => RequestListener };
  const direct = await listen(t, createExpressApp());
  const adapted = await listen(t, serveApplication(guardApplication(fromNodeHandler(createExpressApp()), silent)));
  for (const probe of PROBES) {
    const options = { method: probe.method ?? 'GET', ...(probe.headers === undefined ? {} : { headers: probe.headers }), ...(probe.body === undefined ? {} : { body: probe.body }) };
    const [own, ours] = await Promise.all([send(`${direct}${probe.path}`, options), send(`${adapted}${probe.path}`, options)]);
    t.same(essence(ours), essence(own), probe.name);
  }
  const streamed = await send(`${adapted}/api/count?to=2000`);
  t.equal(streamed.headers['transfer-encoding'], 'chunked', 'a piped body is streamed, not collected first');
  t.equal(streamed.text.split('\n').length, 2001, 'every line arrives');
});

t.test('a listener that fails fails its own request only: 500 with the request id', async (t) => {
  const listener = (req: { url?: string }, res: { end(body: string): void }): unknown => {
    if (req.url === '/throw') throw new Error('boom');
    if (req.url === '/reject') return Promise.reject(new Error('async boom'));
    res.end('fine');
    return undefined;
  };
  const base = await listen(t, serveApplication(guardApplication(fromNodeHandler(listener as never), silent)));
  const thrown = await send(`${base}/throw`);
  t.equal(thrown.status, 500);
  t.equal(thrown.json<{ error: { requestId: string } }>().error.requestId, 'req-1', 'the body names the request id');
  const rejected = await send(`${base}/reject`);
  t.equal(rejected.status, 500);
  t.equal(rejected.json<{ error: { requestId: string } }>().error.requestId, 'req-2');
  const fine = await send(`${base}/ok`);
  t.same([fine.status, fine.text], [200, 'fine'], 'the next request is served');
});

t.test('write() says false past 16 KiB not yet taken, and drain follows the consumer', async (t) => {
  let sawFalse = false;
  let drains = 0;
  const app = fromNodeHandler((_req, res) => {
    res.on('drain', () => (drains += 1));
    for (let index = 0; index < 8; index += 1) if (!res.write(Buffer.alloc(4096, 97))) sawFalse = true;
    res.end();
  });
  const response = await app.handle({
    method: 'GET', target: '/', httpVersion: '1.1', headers: {}, body: new Uint8Array(), remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '127.0.0.1', localPort: 2, requestId: 'r',
  });
  t.ok(sawFalse, 'write() returned false once 16 KiB were queued');
  let bytes = 0;
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) bytes += chunk.byteLength;
  t.equal(bytes, 8 * 4096, 'every byte is handed over');
  t.ok(drains >= 1, "'drain' was emitted as the consumer read");
});

const PLAIN_REQUEST = {
  method: 'GET', target: '/', httpVersion: '1.1', headers: { host: 'example.test' }, body: new Uint8Array(), remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '127.0.0.1', localPort: 2, requestId: 'r',
} as const;

t.test('a head written with nothing after it this turn is handed over at once, as a stream', async (t) => {
  let later: (() => void) | undefined;
  const app = fromNodeHandler((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'X-Count': 2 });
    t.ok(res.headersSent, 'headersSent after writeHead');
    t.throws(() => res.setHeader('X-Late', '1'), { code: 'ERR_HTTP_HEADERS_SENT' }, 'no field after the head');
    later = () => res.end('data: 1\n\n');
  });
  const response = await app.handle(PLAIN_REQUEST);
  t.equal(response.status, 200);
  t.same(response.headers, { 'content-type': 'text/event-stream', 'x-count': '2' }, 'names lowercased, numbers as strings');
  t.type(later, 'function', 'answered before the listener wrote a byte');
  later?.();
  let text = '';
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) text += Buffer.from(chunk).toString();
  t.equal(text, 'data: 1\n\n');
});

t.test('a response ended at once is one buffer; the reason phrase and status rules are node\'s', async (t) => {
  const app = fromNodeHandler((req, res) => {
    if (req.url === '/bad-status') {
      res.writeHead(42);
      return;
    }
    if (req.url === '/destroyed') {
      res.destroy();
      return;
    }
    res.setHeader('Set-Cookie', ['a=1', 'b=2']);
    res.writeHead(201, 'Made', { 'Content-Length': 5 });
    t.equal(res.statusMessage, 'Made');
    res.write('he');
    res.end('llo');
  });
  const made = await app.handle(PLAIN_REQUEST);
  t.equal(made.status, 201);
  t.same(made.headers, { 'set-cookie': ['a=1', 'b=2'], 'content-length': '5' });
  let text = '';
  for await (const chunk of made.body as AsyncIterable<Uint8Array>) text += Buffer.from(chunk).toString();
  t.equal(text, 'hello', 'written then ended: every piece, in order');
  const once = await fromNodeHandler((_req, res) => res.end('whole')).handle(PLAIN_REQUEST);
  t.ok(Buffer.isBuffer(once.body), 'ended at once: a Buffer (Content-Length framing)');
  t.equal(Buffer.from(once.body as Uint8Array).toString(), 'whole');
  const empty = await fromNodeHandler((_req, res) => res.end()).handle(PLAIN_REQUEST);
  t.equal((empty.body as Uint8Array).byteLength, 0, 'ended with nothing: an empty body');
  await t.rejects(app.handle({ ...PLAIN_REQUEST, target: '/bad-status' }), { code: 'ERR_HTTP_INVALID_STATUS_CODE' }, 'a status outside 100-999 fails the request');
  await t.rejects(app.handle({ ...PLAIN_REQUEST, target: '/destroyed' }), /destroyed before it was sent/, 'destroyed before answering fails the request');
});
