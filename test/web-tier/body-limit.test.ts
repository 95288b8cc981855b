import t from 'tap';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createBodyLimit, declaredBodyLength, declaredBodyTooLarge, DEFAULT_MAX_BODY_BYTES, requestHasBody } from '../../web-tier/body-limit.js';
import { TwotierError } from '../../common/errors.js';

function sink(): { stream: Writable; bytes: () => number } {
  let bytes = 0;
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      callback();
    },
  });
  return { stream, bytes: () => bytes };
}

t.test('the default is 1 MiB', async (t) => {
  t.equal(DEFAULT_MAX_BODY_BYTES, 1_048_576);
});

t.test('a body of exactly the limit passes through whole', async (t) => {
  const out = sink();
  const limit = createBodyLimit(10);
  await pipeline(Readable.from([Buffer.from('12345'), Buffer.from('67890')]), limit, out.stream);
  t.equal(out.bytes(), 10);
  t.equal(limit.bytes, 10);
});

t.test('one byte more fails with WEB_ERR_BODY_TOO_LARGE, and nothing past the limit is passed on', async (t) => {
  const out = sink();
  const error = await pipeline(Readable.from([Buffer.from('12345'), Buffer.from('67890'), Buffer.from('x')]), createBodyLimit(10), out.stream).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  t.ok(error instanceof TwotierError);
  t.equal((error as TwotierError).code, 'WEB_ERR_BODY_TOO_LARGE');
  t.equal((error as TwotierError).status, 413);
  t.equal(out.bytes(), 10);
});

t.test('it counts while streaming: the error comes before the source ends', async (t) => {
  const source = new PassThrough();
  const limit = createBodyLimit(4);
  source.pipe(limit).resume();
  const failed = new Promise((resolve) => limit.once('error', resolve));
  source.write('abc');
  source.write('de');
  const error = (await failed) as TwotierError;
  t.equal(error.code, 'WEB_ERR_BODY_TOO_LARGE');
  t.equal(source.writableEnded, false, 'the source never had to finish');
});

t.test('a zero limit admits only an empty body; a bad limit is refused', async (t) => {
  const out = sink();
  await pipeline(Readable.from([]), createBodyLimit(0), out.stream);
  t.equal(out.bytes(), 0);
  t.throws(() => createBodyLimit(-1), RangeError);
  t.throws(() => createBodyLimit(1.5), RangeError);
});

t.test('declared lengths', async (t) => {
  t.equal(declaredBodyLength({ 'content-length': '42' }), 42);
  t.equal(declaredBodyLength({}), undefined);
  t.equal(declaredBodyLength({ 'content-length': '4, 4' }), undefined, 'a list is not a length (limits.ts rejects it)');
  t.equal(declaredBodyLength({ 'content-length': '-1' }), undefined);
  t.equal(declaredBodyTooLarge({ 'content-length': '11' }, 10), true);
  t.equal(declaredBodyTooLarge({ 'content-length': '10' }, 10), false);
  t.equal(declaredBodyTooLarge({ 'transfer-encoding': 'chunked' }, 10), false, 'chunked is counted while streaming');
  t.equal(requestHasBody({}), false);
  t.equal(requestHasBody({ 'content-length': '0' }), false);
  t.equal(requestHasBody({ 'content-length': '1' }), true);
  t.equal(requestHasBody({ 'transfer-encoding': 'chunked' }), true);
});
