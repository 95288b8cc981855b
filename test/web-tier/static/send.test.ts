import t from 'tap';
import { unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createLogger } from '../../../common/logger.js';
import type { RequestContext } from '../../../web-tier/context.js';
import { createFileCache } from '../../../web-tier/static/file-cache.js';
import { buildRepresentation, type Representation } from '../../../web-tier/static/representation.js';
import { createResolver } from '../../../web-tier/static/resolve.js';
import { sendRepresentation } from '../../../web-tier/static/send.js';
import { get, makeFixtureRoot } from './helpers.js';

const logger = createLogger({ tier: 'web', level: 'silent' });

async function serveOne(t: { teardown(fn: () => unknown): void }, rep: Representation, maxFileBytes: number) {
  const bodies = createFileCache({ maxBytes: 1 << 20, maxFileBytes });
  const vanished: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const ctx: RequestContext = { requestId: 'r', startedAt: 0n, logger, pathname: req.url ?? '/', search: '', servedBy: 'static' };
    void sendRepresentation(req, res, ctx, rep, {
      bodies,
      onVanished: (response) => {
        vanished.push(rep.file.path);
        response.writeHead(404, { 'Content-Length': '0' });
        response.end();
      },
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as AddressInfo).port, bodies, vanished };
}

async function repOf(root: string, name: string): Promise<Representation> {
  const found = await createResolver({ root, followOutsideSymlinks: false, statTtlMs: 0, maxEntries: 10 }).lookup([name]);
  if (found.kind !== 'file') throw new Error(`${name} is not a file`);
  return buildRepresentation({ file: found.file, coding: 'identity', fileName: name, cacheControl: 'no-cache', varies: false });
}

t.test('from memory: 200 then held, 206 slices, 304, 412, 416', async (t) => {
  const { root } = makeFixtureRoot(t);
  const rep = await repOf(root, 'hello.txt');
  const { port, bodies } = await serveOne(t, rep, 1024);
  t.equal((await get(port, '/')).body.toString(), 'Hello, static world.\n');
  t.equal(bodies.size, 1, 'held after the first read');
  const part = await get(port, '/', { headers: { Range: 'bytes=7-12' } });
  t.equal(part.status, 206);
  t.equal(part.body.toString(), 'static');
  t.equal((await get(port, '/', { headers: { 'If-None-Match': rep.etag } })).status, 304);
  t.equal((await get(port, '/', { headers: { 'If-Match': '"other"' } })).status, 412);
  t.equal((await get(port, '/', { headers: { Range: 'bytes=500-' } })).status, 416);
});

t.test('from disk: streamed whole and in part; a vanished file goes to onVanished', async (t) => {
  const { root, large } = makeFixtureRoot(t);
  const rep = await repOf(root, 'large.bin');
  const { port, bodies, vanished } = await serveOne(t, rep, 1024);
  t.same((await get(port, '/')).body, large);
  t.equal(bodies.size, 0, 'too big to hold');
  t.same((await get(port, '/', { headers: { Range: 'bytes=-10' } })).body, large.subarray(large.length - 10));
  unlinkSync(join(root, 'large.bin'));
  t.equal((await get(port, '/')).status, 404);
  t.same(vanished, [rep.file.path]);
});
