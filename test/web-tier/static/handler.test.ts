import t from 'tap';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, truncateSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { Writable } from 'node:stream';
import { createLogger } from '../../../common/logger.js';
import { FIXTURES, LARGE_SIZE, get, makeFixtureRoot, startStatic } from './helpers.js';

const HELLO = readFileSync(join(FIXTURES, 'hello.txt'));
const STYLE = readFileSync(join(FIXTURES, 'style.css'));

t.test('200 with type, length, date, last-modified and a strong ETag; HEAD is the same without body', async (t) => {
  const { root } = makeFixtureRoot(t);
  const { port, contexts } = await startStatic(t, { root });
  const res = await get(port, '/hello.txt');
  t.equal(res.status, 200);
  t.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
  t.equal(res.headers['content-length'], String(HELLO.length));
  t.ok(res.headers['date']);
  t.ok(res.headers['last-modified']);
  t.match(res.headers['etag'], /^"[^"]+"$/, 'strong: no W/ prefix');
  t.equal(res.headers['accept-ranges'], 'bytes');
  t.equal(res.headers['x-content-type-options'], 'nosniff');
  t.same(res.body, HELLO);
  t.equal(contexts[0]?.servedBy, 'static');

  const head = await get(port, '/hello.txt', { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(head.body.length, 0);
  for (const name of ['content-type', 'content-length', 'last-modified', 'etag', 'cache-control']) t.equal(head.headers[name], res.headers[name], name);

  t.equal((await get(port, '/data.unknownext')).headers['content-type'], 'application/octet-stream');
  t.equal((await get(port, '/index.html')).headers['content-type'], 'text/html; charset=utf-8');
  const empty = await get(port, '/empty.txt', { headers: { Range: 'bytes=0-' } });
  t.equal(empty.status, 200);
  t.equal(empty.headers['content-length'], '0');
  t.equal((await get(port, '/with%20space.txt')).status, 200, 'a name with a space');
});

t.test('index.html for a directory; 301 to the slash form that never leaves the host', async (t) => {
  const { root } = makeFixtureRoot(t);
  mkdirSync(join(root, 'evil.example'));
  const { port } = await startStatic(t, { root });
  const home = await get(port, '/');
  t.equal(home.status, 200);
  t.match(home.body.toString(), /<h1>Home<\/h1>/);
  t.match((await get(port, '/docs/')).body.toString(), /docs index/);

  const redirect = await get(port, '/docs?x=1', { headers: { Host: 'evil.example' } });
  t.equal(redirect.status, 301);
  t.equal(redirect.headers['location'], '/docs/?x=1', 'relative, Host not reflected, query kept');
  const evil = await get(port, '//evil.example');
  t.equal(evil.status, 301);
  t.equal(evil.headers['location'], '/evil.example/', 'never protocol-relative');
  const many = await get(port, '///evil.example');
  t.equal(many.headers['location'], '/evil.example/');
  t.equal((await get(port, '/hello.txt/')).status, 404, 'a file is not a directory');
  t.equal((await get(port, '/nolist/')).status, 404, 'no index, no listing');
});

t.test('If-None-Match, If-Modified-Since, If-Match, If-Unmodified-Since', async (t) => {
  const { root } = makeFixtureRoot(t);
  const { port } = await startStatic(t, { root });
  const first = await get(port, '/hello.txt');
  const etag = String(first.headers['etag']);
  const lastModified = String(first.headers['last-modified']);

  const notModified = await get(port, '/hello.txt', { headers: { 'If-None-Match': etag } });
  t.equal(notModified.status, 304);
  t.equal(notModified.body.length, 0);
  t.equal(notModified.headers['etag'], etag, 'validators repeated');
  t.equal(notModified.headers['last-modified'], lastModified);
  t.equal(notModified.headers['cache-control'], first.headers['cache-control']);
  t.equal((await get(port, '/hello.txt', { headers: { 'If-None-Match': `W/${etag}` } })).status, 304, 'weak comparison');
  t.equal((await get(port, '/hello.txt', { headers: { 'If-None-Match': `"nope", ${etag}` } })).status, 304, 'list');
  t.equal((await get(port, '/hello.txt', { headers: { 'If-None-Match': '*' } })).status, 304, '*');
  t.equal((await get(port, '/hello.txt', { headers: { 'If-None-Match': '"nope"' } })).status, 200);

  const future = new Date(Date.now() + 3_600_000).toUTCString();
  t.equal((await get(port, '/hello.txt', { headers: { 'If-Modified-Since': lastModified } })).status, 304);
  t.equal((await get(port, '/hello.txt', { headers: { 'If-Modified-Since': 'Sat, 01 Jan 2000 00:00:00 GMT' } })).status, 200);
  t.equal((await get(port, '/hello.txt', { headers: { 'If-None-Match': '"nope"', 'If-Modified-Since': future } })).status, 200,
    'If-Modified-Since ignored when If-None-Match is present');

  const failed = await get(port, '/hello.txt', { headers: { 'If-Match': '"nope"', Accept: 'application/json' } });
  t.equal(failed.status, 412);
  t.equal(JSON.parse(failed.body.toString()).error.code, 'WEB_ERR_PRECONDITION_FAILED');
  t.equal((await get(port, '/hello.txt', { headers: { 'If-Match': `W/${etag}` } })).status, 412, 'If-Match compares strongly');
  t.equal((await get(port, '/hello.txt', { headers: { 'If-Match': etag } })).status, 200);
  t.equal((await get(port, '/hello.txt', { headers: { 'If-Match': '*' } })).status, 200);
  t.equal((await get(port, '/hello.txt', { headers: { 'If-Unmodified-Since': 'Sat, 01 Jan 2000 00:00:00 GMT' } })).status, 412);
  t.equal((await get(port, '/hello.txt', { headers: { 'If-Unmodified-Since': future } })).status, 200);
});

t.test('ranges: single, suffix, open-ended, clamped, 416, unknown unit, If-Range, no amplification', async (t) => {
  const { root, large } = makeFixtureRoot(t);
  const { port } = await startStatic(t, { root });
  const size = HELLO.length;
  const range = (value: string, extra: Record<string, string> = {}) => get(port, '/hello.txt', { headers: { Range: value, ...extra } });

  const single = await range('bytes=0-4');
  t.equal(single.status, 206);
  t.equal(single.headers['content-range'], `bytes 0-4/${size}`);
  t.equal(single.headers['content-length'], '5');
  t.same(single.body, HELLO.subarray(0, 5));
  t.same((await range('bytes=-6')).body, HELLO.subarray(size - 6), 'suffix');
  t.same((await range('bytes=7-')).body, HELLO.subarray(7), 'open-ended');
  const clamped = await range('bytes=3-999999');
  t.equal(clamped.headers['content-range'], `bytes 3-${size - 1}/${size}`, 'end clamped');
  const unsatisfiable = await range(`bytes=${size}-`);
  t.equal(unsatisfiable.status, 416);
  t.equal(unsatisfiable.headers['content-range'], `bytes */${size}`);
  t.equal((await range('items=0-1')).status, 200, 'unknown unit ignored');
  t.equal((await range('bytes=abc')).status, 200, 'malformed ignored');
  t.equal((await range('BYTES=0-1')).status, 206, 'unit is case-insensitive');

  const overlapping = await range('bytes=0-5,3-9,10-12');
  t.equal(overlapping.status, 206, 'overlapping and adjacent ranges coalesce');
  t.equal(overlapping.headers['content-range'], `bytes 0-12/${size}`);
  const apart = await range('bytes=0-1,5-6');
  t.equal(apart.status, 200, 'disjoint ranges: the whole file, never multipart');
  t.equal(apart.body.length, size);
  const flood = await range(`bytes=${Array.from({ length: 200 }, () => '0-').join(',')}`);
  t.equal(flood.status, 200);
  t.equal(flood.body.length, size, 'never bigger than the file');

  const etag = String(single.headers['etag']);
  t.equal((await range('bytes=0-1', { 'If-Range': etag })).status, 206, 'If-Range with the current tag');
  t.equal((await range('bytes=0-1', { 'If-Range': '"old"' })).status, 200, 'If-Range with a stale tag: whole file');
  t.equal((await range('bytes=0-1', { 'If-Range': String(single.headers['last-modified']) })).status, 206, 'If-Range date');
  t.equal((await range('bytes=0-1', { 'If-Range': 'Sat, 01 Jan 2000 00:00:00 GMT' })).status, 200);
  t.equal((await get(port, '/hello.txt', { method: 'HEAD', headers: { Range: 'bytes=0-1' } })).status, 200, 'HEAD ignores Range');

  const streamed = await get(port, '/large.bin', { headers: { Range: 'bytes=100000-100099' } });
  t.equal(streamed.status, 206);
  t.same(streamed.body, large.subarray(100000, 100100), 'range of a streamed file');
});

t.test('precompressed twins: negotiated, Content-Encoding, Vary, their own ETag', async (t) => {
  const { root } = makeFixtureRoot(t);
  const { port } = await startStatic(t, { root });
  const plain = await get(port, '/style.css');
  t.equal(plain.headers['content-encoding'], undefined);
  t.equal(plain.headers['vary'], 'Accept-Encoding');
  t.same(plain.body, STYLE);

  const br = await get(port, '/style.css', { headers: { 'Accept-Encoding': 'gzip, deflate, br' } });
  t.equal(br.headers['content-encoding'], 'br', 'br preferred on a q tie');
  t.equal(br.headers['content-type'], 'text/css; charset=utf-8', 'type of the original');
  t.equal(br.headers['vary'], 'Accept-Encoding');
  t.not(br.headers['etag'], plain.headers['etag']);
  t.same(brotliDecompressSync(br.body), STYLE);

  const gz = await get(port, '/style.css', { headers: { 'Accept-Encoding': 'gzip' } });
  t.equal(gz.headers['content-encoding'], 'gzip');
  t.same(gunzipSync(gz.body), STYLE);
  t.not(gz.headers['etag'], br.headers['etag']);
  t.equal((await get(port, '/style.css', { headers: { 'Accept-Encoding': 'br;q=0.5, gzip' } })).headers['content-encoding'], 'gzip', 'q wins over preference');
  t.equal((await get(port, '/style.css', { headers: { 'Accept-Encoding': 'identity' } })).headers['content-encoding'], undefined);

  const revalidated = await get(port, '/style.css', { headers: { 'Accept-Encoding': 'br', 'If-None-Match': String(br.headers['etag']) } });
  t.equal(revalidated.status, 304);
  t.equal(revalidated.headers['vary'], 'Accept-Encoding');
  t.equal((await get(port, '/hello.txt')).headers['vary'], undefined, 'no twins, no Vary');
});

t.test('Cache-Control per path rules; fingerprinted assets are immutable', async (t) => {
  const { root } = makeFixtureRoot(t);
  const { port } = await startStatic(t, { root });
  t.match((await get(port, '/assets/app.3f2a9c1b.js')).headers['cache-control'], /immutable/);
  t.equal((await get(port, '/assets/plain.js')).headers['cache-control'], 'public, max-age=0, must-revalidate');

  const custom = await startStatic(t, { root, cacheControl: [{ prefix: '/assets/', value: 'public, max-age=60' }, { pattern: '\\.txt$', value: 'no-store' }] });
  t.equal((await get(custom.port, '/assets/plain.js')).headers['cache-control'], 'public, max-age=60');
  t.equal((await get(custom.port, '/hello.txt')).headers['cache-control'], 'no-store');
  t.equal((await get(custom.port, '/index.html')).headers['cache-control'], undefined, 'no rule, no header');
});

t.test('directory listing only where enabled, HTML or JSON, without dotfiles', async (t) => {
  const { root } = makeFixtureRoot(t);
  const { port } = await startStatic(t, { root, listingDirs: ['/files'] });
  const html = await get(port, '/files/');
  t.equal(html.status, 200);
  t.equal(html.headers['content-type'], 'text/html; charset=utf-8');
  t.match(html.body.toString(), /href="\.\/a\.txt"/);
  t.match(html.body.toString(), /href="\.\/sub\/"/);
  t.notMatch(html.body.toString(), /hidden/);
  const json = await get(port, '/files/', { headers: { Accept: 'application/json' } });
  t.equal(json.headers['content-type'], 'application/json; charset=utf-8');
  t.equal(json.headers['vary'], 'Accept');
  const listing = JSON.parse(json.body.toString()) as { path: string; entries: { name: string; type: string }[] };
  t.equal(listing.path, '/files/');
  t.same(listing.entries.map((entry) => `${entry.name}:${entry.type}`), ['a.txt:file', 'sub:directory']);
  t.equal((await get(port, '/files/sub/')).status, 200, 'the prefix covers sub-folders');
  t.equal((await get(port, '/nolist/')).status, 404, 'not enabled there');
  t.equal((await get(port, '/filesystem/')).status, 404, 'prefix matches whole segments');
  t.equal((await get(port, '/files/', { method: 'HEAD' })).body.length, 0);
});

t.test('dotfiles, symlinks out of the root, and error bodies that reveal nothing', async (t) => {
  const { root } = makeFixtureRoot(t);
  const { port } = await startStatic(t, { root });
  for (const path of ['/.env', '/.git/config', '/.git/', '/files/.hidden', '/%2eenv', '/escape.txt', '/escape-dir/secret.txt', '/env-link']) {
    const res = await get(port, path);
    t.equal(res.status, 404, path);
    t.notMatch(res.body.toString(), root, `${path}: no file-system path`);
    t.notMatch(res.body.toString(), /SECRET|outside the root|\bat .*\.[jt]s:\d+/, `${path}: no content, no stack`);
  }
  t.equal((await get(port, '/inside-link.txt')).status, 200, 'a symlink inside the root is fine');
  t.equal((await get(port, '/.well-known/security.txt')).status, 200, 'RFC 8615 exception');
  const json = await get(port, '/missing', { headers: { Accept: 'application/json' } });
  t.equal(JSON.parse(json.body.toString()).error.code, 'WEB_ERR_NOT_FOUND');

  const following = await startStatic(t, { root, followOutsideSymlinks: true });
  t.equal((await get(following.port, '/escape.txt')).body.toString(), 'outside the root\n', 'opt-in follows');
});

t.test('methods: OPTIONS 204 with Allow, writes 405 with Allow', async (t) => {
  const { root } = makeFixtureRoot(t);
  const { port } = await startStatic(t, { root });
  const options = await get(port, '/hello.txt', { method: 'OPTIONS' });
  t.equal(options.status, 204);
  t.equal(options.headers['allow'], 'GET, HEAD, OPTIONS');
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'TRACE']) {
    const res = await get(port, '/hello.txt', { method });
    t.equal(res.status, 405, method);
    t.equal(res.headers['allow'], 'GET, HEAD, OPTIONS', `${method} Allow`);
  }
});

t.test('large files are streamed; a client that leaves or a file that vanishes crashes nothing', async (t) => {
  const { root, large } = makeFixtureRoot(t);
  const { port } = await startStatic(t, { root, statTtlMs: 60_000 });
  const whole = await get(port, '/large.bin');
  t.equal(whole.status, 200);
  t.equal(whole.headers['content-length'], String(LARGE_SIZE));
  t.same(whole.body, large);

  await new Promise<void>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/large.bin', agent: false }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? resolve() : reject(error)));
    req.end();
  });
  t.equal((await get(port, '/hello.txt')).status, 200, 'still serving after a client left mid-stream');

  unlinkSync(join(root, 'large.bin'));
  t.equal((await get(port, '/large.bin')).status, 404, 'stat cached, open fails: 404, not an empty 200');
});

t.test('changed files are seen after the stat TTL; cached bodies never go stale', async (t) => {
  const { root } = makeFixtureRoot(t);
  const { port } = await startStatic(t, { root, statTtlMs: 0 });
  const before = await get(port, '/hello.txt');
  writeFileSync(join(root, 'hello.txt'), 'changed and longer content\n');
  utimesSync(join(root, 'hello.txt'), new Date(), new Date(Date.now() + 5_000));
  const after = await get(port, '/hello.txt');
  t.equal(after.body.toString(), 'changed and longer content\n');
  t.not(after.headers['etag'], before.headers['etag']);
  t.equal((await get(port, '/hello.txt', { headers: { 'If-None-Match': String(before.headers['etag']) } })).status, 200);
});

/** How many of this process's descriptors are open on `path` (the static handler runs in-process here). */
function openDescriptors(path: string): number {
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) count += 1;
    } catch {
      // Closed between the listing and the read.
    }
  }
  return count;
}

t.test('a client that leaves mid-stream: the file is closed, not held open behind it', { skip: existsSync('/proc/self/fd') ? false : 'needs /proc' }, async (t) => {
  const { root } = makeFixtureRoot(t);
  const path = join(root, 'huge.bin');
  // Far more than the socket buffers hold, so the read stream is still open when the client stops reading.
  writeFileSync(path, Buffer.alloc(32 * 1024 * 1024, 7));
  const { port } = await startStatic(t, { root });
  const req = httpRequest({ host: '127.0.0.1', port, path: '/huge.bin', agent: false });
  req.on('error', () => undefined);
  req.end();
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  await once(res, 'data');
  res.pause();
  t.equal(openDescriptors(path), 1, 'the file is open while it streams');
  req.destroy();
  const deadline = Date.now() + 3_000;
  while (openDescriptors(path) > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(openDescriptors(path), 0, 'closed once the client left');
});

t.test('a file that shrinks mid-stream cuts the connection instead of ending short but "complete"', async (t) => {
  const { root } = makeFixtureRoot(t);
  const big = join(root, 'big.bin');
  // Larger than loopback socket buffers can absorb, so the server is still reading when we truncate.
  writeFileSync(big, Buffer.alloc(16 * 1024 * 1024, 7));
  const { port } = await startStatic(t, { root });
  let timedOut = false;
  const outcome = await new Promise<{ complete: boolean; received: number }>((resolve, reject) => {
    // Keep-alive, so only the server cutting the connection can end a short body: with
    // Connection: close an early end() would look the same to the client.
    const agent = new Agent({ keepAlive: true });
    t.teardown(() => agent.destroy());
    const req = httpRequest({ host: '127.0.0.1', port, path: '/big.bin', agent }, (res) => {
      let received = 0;
      res.pause();
      truncateSync(big, 1024);
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
      });
      res.on('close', () => resolve({ complete: res.complete, received }));
      res.on('error', () => undefined);
      res.resume();
    });
    req.on('error', reject);
    // Below the server's 5 s keepAliveTimeout, which would otherwise close the idle connection itself.
    req.setTimeout(2_000, () => {
      timedOut = true;
      req.destroy();
    });
    req.end();
  });
  t.equal(timedOut, false, 'cut by the server, not left hanging');
  t.equal(outcome.complete, false, 'the client can tell the body is incomplete');
  t.ok(outcome.received < 16 * 1024 * 1024);
  t.equal((await get(port, '/hello.txt')).status, 200, 'the server carries on');
});

t.test('the hot path keeps a resolved file for the stat TTL, then looks again', async (t) => {
  const { root } = makeFixtureRoot(t);
  let clock = 1_000_000;
  const { port } = await startStatic(t, { root, statTtlMs: 1_000, now: () => clock });
  const first = await get(port, '/hello.txt');
  writeFileSync(join(root, 'hello.txt'), 'replaced within the TTL\n');
  utimesSync(join(root, 'hello.txt'), new Date(), new Date(Date.now() + 5_000));
  const cached = await get(port, '/hello.txt');
  t.equal(cached.headers['etag'], first.headers['etag'], 'inside the TTL: no stat, same version');
  t.same(cached.body, HELLO, 'and the bytes of that version, not a mix');
  clock += 1_001;
  const fresh = await get(port, '/hello.txt');
  t.equal(fresh.body.toString(), 'replaced within the TTL\n');
  t.not(fresh.headers['etag'], first.headers['etag']);

  writeFileSync(join(root, 'hello.txt.gz'), Buffer.from('not really gzip'));
  t.equal((await get(port, '/hello.txt', { headers: { 'Accept-Encoding': 'gzip' } })).headers['content-encoding'], undefined, 'a new twin waits for the TTL');
  clock += 2_002;
  t.equal((await get(port, '/hello.txt', { headers: { 'Accept-Encoding': 'gzip' } })).headers['content-encoding'], 'gzip', 'then it is seen');

  unlinkSync(join(root, 'hello.txt'));
  unlinkSync(join(root, 'hello.txt.gz'));
  clock += 2_002;
  t.equal((await get(port, '/hello.txt')).status, 404, 'and a deleted file is gone');
});

t.test('refusals are logged with a reason (never to the client); a missing root is only 404s', async (t) => {
  const { root } = makeFixtureRoot(t);
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const { port } = await startStatic(t, { root, logger: createLogger({ tier: 'web', level: 'debug', destination: sink }) });
  const res = await get(port, '/escape.txt');
  t.equal(res.status, 404);
  t.notMatch(res.body.toString(), /symlink/);
  t.ok(lines.some((line) => line['reason'] === 'symlink leads outside the root' && line['service'] === 'web'), 'the log says why');

  const nowhere = await startStatic(t, { root: join(root, 'does-not-exist') });
  t.equal((await get(nowhere.port, '/')).status, 404);
  t.equal((await get(nowhere.port, '/hello.txt')).status, 404);
});
