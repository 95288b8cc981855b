/**
 * The spill buffer (body-buffer.ts, spill-file.ts) on its own: a body in memory up to a threshold,
 * then in a temp file in a private directory, bounded, readable as often as a retry asks, and
 * given back (descriptor closed, nothing on disk) whatever way its request ends.
 */
import t, { type Test } from 'tap';
import { once } from 'node:events';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BufferedBody, withContentLength, withContentLengthField } from '../../../web-tier/proxy/body-buffer.js';
import { createSpillDir, type SpillDir } from '../../../web-tier/proxy/spill-file.js';
import { loadConfig } from '../../../web-tier/config.js';
import { proxyOptions } from '../../../web-tier/server-handlers.js';
import { filesUnder, openInto } from './spill-helpers.js';

async function text(stream: Readable): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += (chunk as Buffer).toString('latin1');
  return out;
}

function spillDir(t: Test, maxTotalBytes = 0): { dir: string; spill: SpillDir } {
  const dir = t.testdir({});
  const spill = createSpillDir({ parent: dir, maxTotalBytes });
  t.teardown(() => spill.close());
  return { dir, spill };
}

function body(spill: SpillDir, options: { memoryBytes?: number; maxBytes?: number; maxReplayBytes?: number } = {}): BufferedBody {
  return new BufferedBody({ memoryBytes: options.memoryBytes ?? 16, maxBytes: options.maxBytes ?? 1024, dir: spill, maxReplayBytes: options.maxReplayBytes ?? 1024 });
}

async function write(target: BufferedBody, parts: readonly string[]): Promise<void> {
  for (const part of parts) {
    if (!target.write(part)) await once(target, 'drain');
  }
}

t.test('a body within the memory threshold stays in memory: no file, no directory', async (t) => {
  const { dir, spill } = spillDir(t);
  const buffered = body(spill);
  await write(buffered, ['0123456789', 'abcdef']);
  buffered.end();
  await once(buffered, 'finish');
  t.equal(buffered.spilled, false);
  t.equal(buffered.bytes, 16);
  t.equal(await text(buffered.open()), '0123456789abcdef');
  t.equal(await text(buffered.replay() as Readable), '0123456789abcdef', 'a retry gets it again');
  t.same(readdirSync(dir), [], 'nothing made on disk');
  buffered.destroy();
  await once(buffered, 'close');
});

t.test('past the threshold the whole body goes to a temp file: owner-only, unlinked, read as often as asked, closed on destroy', async (t) => {
  const { dir, spill } = spillDir(t);
  const buffered = body(spill);
  await write(buffered, ['0123456789', 'abcdefghij', 'KLMNOPQRST']);
  buffered.end();
  await once(buffered, 'finish');
  t.equal(buffered.spilled, true);
  t.equal(buffered.bytes, 30);
  const made = readdirSync(dir);
  t.equal(made.length, 1, 'one private directory');
  t.equal(statSync(join(dir, made[0] as string)).mode & 0o777, 0o700, 'the directory is the owner\'s only');
  t.same(filesUnder(dir), [], 'the file has no name on disk while it is open');
  t.equal(openInto(dir).length, 1, 'but it is open');
  t.equal(spill.spilledBytes, 30, 'counted against the temp budget');
  t.equal(await text(buffered.open()), '0123456789abcdefghijKLMNOPQRST');
  t.equal(await text(buffered.replay() as Readable), '0123456789abcdefghijKLMNOPQRST', 'and again for a retry');
  const reading = buffered.open();
  buffered.destroy();
  await once(buffered, 'close');
  t.equal(reading.destroyed, true, 'a reader still open is stopped');
  t.same(openInto(dir), [], 'closed');
  t.equal(spill.spilledBytes, 0, 'the budget is given back');
  t.equal(buffered.replay(), undefined, 'nothing to replay once given back');
});

t.test('the temp file is created exclusively with mode 0600', async (t) => {
  const { spill } = spillDir(t);
  const handle = await spill.createFile();
  t.teardown(() => handle.close());
  t.equal((await handle.stat()).mode & 0o777, 0o600);
  t.equal((await handle.stat()).nlink, 0, 'already unlinked');
});

t.test('a body past maxBytes fails with 413 and leaves nothing open', async (t) => {
  const { dir, spill } = spillDir(t);
  const buffered = body(spill, { maxBytes: 40 });
  const failed = once(buffered, 'error');
  buffered.write('x'.repeat(30));
  buffered.write('y'.repeat(11));
  const [error] = (await failed) as [{ code: string; status: number }];
  t.match(error, { code: 'WEB_ERR_BODY_TOO_LARGE', status: 413 });
  buffered.destroy();
  await once(buffered, 'close');
  t.same(openInto(dir), []);
  t.same(filesUnder(dir), []);
});

t.test('the temp budget spent: 503 + Retry-After, and it is given back', async (t) => {
  const { dir, spill } = spillDir(t, 50);
  const first = body(spill);
  await write(first, ['a'.repeat(40)]);
  const second = body(spill);
  const failed = once(second, 'error');
  second.write('b'.repeat(20));
  const [error] = (await failed) as [{ code: string; status: number; headers: Record<string, string> }];
  t.match(error, { code: 'WEB_ERR_OVERLOADED', status: 503, headers: { 'Retry-After': '1' } });
  first.destroy();
  second.destroy();
  await Promise.all([once(first, 'close'), once(second, 'close')]);
  t.equal(spill.spilledBytes, 0);
  t.same(openInto(dir), []);
});

t.test('destroyed while its file is being made (a client that leaves at once): the file is closed anyway', async (t) => {
  const { dir, spill } = spillDir(t);
  const buffered = body(spill);
  buffered.write('z'.repeat(100));
  buffered.destroy();
  await once(buffered, 'close');
  t.same(openInto(dir), []);
  t.same(filesUnder(dir), []);
});

t.test('a retry resends only a body within the replay bound', async (t) => {
  const { spill } = spillDir(t);
  const buffered = body(spill, { maxReplayBytes: 20 });
  await write(buffered, ['a'.repeat(21)]);
  t.equal(buffered.replay(), undefined, 'not before it is whole');
  buffered.end();
  await once(buffered, 'finish');
  t.equal(buffered.replay(), undefined, 'past the bound: never resent');
  buffered.destroy();
  await once(buffered, 'close');
});

t.test('close() removes the private directory; no file can be made after it', async (t) => {
  const dir = t.testdir({});
  const spill = createSpillDir({ parent: dir, maxTotalBytes: 0 });
  const handle = await spill.createFile();
  await handle.close();
  t.equal(readdirSync(dir).length, 1);
  await spill.close();
  t.same(readdirSync(dir), []);
  await t.rejects(spill.createFile());
});

t.test('the web tier frames a buffered body with its length', async (t) => {
  t.same(withContentLength(['Host', 'a', 'transfer-encoding', 'chunked', 'X-A', '1'], 6), ['Host', 'a', 'X-A', '1', 'content-length', '6']);
  t.same(withContentLength(['Content-Length', '6', 'Host', 'a'], 6), ['Host', 'a', 'content-length', '6']);
  t.same(withContentLengthField({ host: 'a', 'transfer-encoding': 'chunked' }, 6), { host: 'a', 'content-length': '6' });
});

t.test('config: WEB_PROXY_STREAM_BODY_PREFIXES, WEB_PROXY_BODY_TEMP_DIR, WEB_PROXY_BODY_TEMP_MAX_BYTES', async (t) => {
  const defaults = proxyOptions(loadConfig(undefined, {}));
  t.match(defaults, { bufferBodyBytes: 64 * 1024, streamBodyPrefixes: [], bodyTempDir: '', bodyTempMaxBytes: 1024 * 1024 * 1024 });
  const tuned = proxyOptions(loadConfig(undefined, { WEB_PROXY_STREAM_BODY_PREFIXES: '/api/uploads/,/media/', WEB_PROXY_BODY_TEMP_DIR: '/var/tmp/twotier', WEB_PROXY_BODY_TEMP_MAX_BYTES: '1048576' }));
  t.match(tuned, { streamBodyPrefixes: ['/api/uploads/', '/media/'], bodyTempDir: '/var/tmp/twotier', bodyTempMaxBytes: 1048576 });
  t.match(proxyOptions(loadConfig(undefined, { WEB_PROXY_BODY_TEMP_DIR: 'data/tmp' })).bodyTempDir, /^\/.*\/data\/tmp$/, 'relative → against the package root');
  t.throws(() => loadConfig(undefined, { WEB_PROXY_STREAM_BODY_PREFIXES: 'uploads' }), { code: 'CONFIG_INVALID' });
  t.throws(() => loadConfig(undefined, { WEB_PROXY_BODY_TEMP_MAX_BYTES: '-1' }), { code: 'CONFIG_INVALID' });
});
