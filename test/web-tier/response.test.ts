/**
 * WebResponse (web-tier/response.ts) on a real server: the stamps every head gets, whichever way
 * a handler writes it, the body-byte count and the one 'finished' call per response.
 */
import t, { type Test } from 'tap';
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../../common/logger.js';
import { WebRequestContext, type ServedBy } from '../../web-tier/context.js';
import { WebResponse, type ResponseSite } from '../../web-tier/response.js';

type Handler = (res: WebResponse, ctx: WebRequestContext) => void;

interface Seen {
  status: number;
  raw: string[];
  body: string;
}

const logger = createLogger({ tier: 'web', level: 'silent' });

async function serve(t: Test, handler: Handler, servedBy: ServedBy, draining = false): Promise<{ fetch(): Promise<Seen>; finished: { ctx: WebRequestContext; bytes: number; servedBy: ServedBy }[] }> {
  const finished: { ctx: WebRequestContext; bytes: number; servedBy: ServedBy }[] = [];
  const site: ResponseSite = {
    draining,
    finished(res) {
      const ctx = res.ctx as WebRequestContext;
      finished.push({ ctx, bytes: res.bodyBytes, servedBy: ctx.servedBy });
    },
  };
  const server = createServer<typeof IncomingMessage, typeof WebResponse>({ ServerResponse: WebResponse }, (_req, res) => {
    const ctx = new WebRequestContext('req-1', process.hrtime.bigint(), logger, '/x', '');
    ctx.servedBy = servedBy;
    res.track(ctx, site, '/x');
    handler(res, ctx);
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  const fetch = (): Promise<Seen> => new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/x', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, raw: res.rawHeaders, body }));
    }).on('error', reject).end();
  });
  return { fetch, finished };
}

function values(raw: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let index = 0; index < raw.length; index += 2) if ((raw[index] as string).toLowerCase() === name) out.push(raw[index + 1] as string);
  return out;
}

t.test('a frozen header list is stamped once, and the list itself is left alone', async (t) => {
  const list = Object.freeze(['Content-Type', 'text/plain', 'Content-Length', '2']);
  const { fetch, finished } = await serve(t, (res) => res.writeHead(200, list as string[]).end('ok'), 'static');
  const seen = await fetch();
  t.equal(seen.body, 'ok');
  t.same(values(seen.raw, 'x-served-by'), ['static']);
  t.same(values(seen.raw, 'x-request-id'), ['req-1']);
  t.same(values(seen.raw, 'connection'), ['close'], 'agent: false asks for close; nothing added twice');
  t.equal(list.length, 4);
  t.equal(finished.length, 1, 'finished once');
  t.equal(finished[0]?.bytes, 2);
});

t.test("a list's own X-Served-By is what goes out, and what the access line says", async (t) => {
  const { fetch, finished } = await serve(t, (res) => res.writeHead(200, ['X-Served-By', 'app', 'Content-Length', '0']).end(), 'app');
  const seen = await fetch();
  t.same(values(seen.raw, 'x-served-by'), ['app']);
  t.equal(finished[0]?.servedBy, 'app');
});

t.test('an app-bound answer written without a label is the web tier\'s own', async (t) => {
  const { fetch, finished } = await serve(t, (res) => res.writeHead(502, { 'Content-Length': '0' }).end(), 'app');
  const seen = await fetch();
  t.equal(seen.status, 502);
  t.same(values(seen.raw, 'x-served-by'), ['web']);
  t.equal(finished[0]?.servedBy, 'web');
});

t.test('a header object carrying X-Served-By (any case) keeps it, and the access line follows it', async (t) => {
  const { fetch, finished } = await serve(t, (res) => res.writeHead(200, { 'x-served-by': 'app', 'Content-Length': '0' }).end(), 'app');
  const seen = await fetch();
  t.same(values(seen.raw, 'x-served-by'), ['app']);
  t.equal(finished[0]?.servedBy, 'app');
});

t.test('a list after setHeader: the list wins, repeated fields (Set-Cookie) all arrive', async (t) => {
  const { fetch } = await serve(t, (res) => {
    res.setHeader('Connection', 'close');
    res.setHeader('Content-Type', 'text/html');
    res.writeHead(200, ['Content-Type', 'text/plain', 'Set-Cookie', 'a=1', 'set-cookie', 'b=2', 'Content-Length', '0']).end();
  }, 'app');
  const seen = await fetch();
  t.same(values(seen.raw, 'content-type'), ['text/plain']);
  t.same(values(seen.raw, 'set-cookie'), ['a=1', 'b=2']);
  t.same(values(seen.raw, 'connection'), ['close']);
  t.same(values(seen.raw, 'x-served-by'), ['web']);
});

t.test('while draining every head says Connection: close, list or not', async (t) => {
  let useList = true;
  const { fetch } = await serve(t, (res) => {
    if (useList) res.writeHead(200, ['Content-Length', '0']).end();
    else res.end();
  }, 'static', true);
  t.same(values((await fetch()).raw, 'connection'), ['close']);
  useList = false;
  const implicit = await fetch();
  t.same(values(implicit.raw, 'connection'), ['close']);
  t.same(values(implicit.raw, 'x-served-by'), ['static'], 'an implicit head is stamped too');
});

t.test('write and end count body bytes, strings in their encoding', async (t) => {
  const { fetch, finished } = await serve(t, (res) => {
    res.write('é');
    res.write(Buffer.from('abc'));
    res.end('ff', 'hex');
  }, 'embedded');
  const seen = await fetch();
  t.equal(seen.body.length, 5);
  t.equal(finished[0]?.bytes, 2 + 3 + 1);
});
