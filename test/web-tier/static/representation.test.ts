import t from 'tap';
import { buildRepresentation, compileCacheControl, contentTypeFor } from '../../../web-tier/static/representation.js';
import type { FileInfo } from '../../../web-tier/static/resolve.js';
import { STATIC_DEFAULTS } from '../../../web-tier/static/config.js';

const file: FileInfo = { path: '/srv/a.css', size: 42, mtimeMs: 1_700_000_000_123, lastModifiedMs: 1_700_000_000_000, lastModified: new Date(1_700_000_000_000).toUTCString(), etagCore: '1-2a-3', checkedAt: 0 };

t.test('content types with charset for text', async (t) => {
  t.equal(contentTypeFor('a.html'), 'text/html; charset=utf-8');
  t.equal(contentTypeFor('a.CSS'), 'text/css; charset=utf-8');
  t.equal(contentTypeFor('a.js'), 'text/javascript; charset=utf-8');
  t.equal(contentTypeFor('a.json'), 'application/json; charset=utf-8');
  t.equal(contentTypeFor('a.png'), 'image/png');
  t.equal(contentTypeFor('README'), 'application/octet-stream');
  t.equal(contentTypeFor('a.nosuchext'), 'application/octet-stream');
});

t.test('Cache-Control rules: first match wins, prefix and pattern both apply', async (t) => {
  const pick = compileCacheControl([{ prefix: '/a/', pattern: '\\.js$', value: 'one' }, { prefix: '/a/', value: 'two' }, { pattern: '^/b', value: 'three' }]);
  t.equal(pick('/a/x.js'), 'one');
  t.equal(pick('/a/x.css'), 'two');
  t.equal(pick('/b/x'), 'three');
  t.equal(pick('/c'), undefined);
  const defaults = compileCacheControl(STATIC_DEFAULTS.cacheControl);
  t.match(defaults('/assets/app.3f2a9c1b.js'), /immutable/);
  t.match(defaults('/assets/logo-0a1b2c3d4e.svg'), /immutable/);
  t.notMatch(defaults('/assets/app.js'), /immutable/);
  t.notMatch(defaults('/assets/my-facade.js'), /immutable/, 'hex-looking words without a digit are not fingerprints');
  t.notMatch(defaults('/assets/deadbeefcafe.js'), /immutable/, 'the hash must be a separate part of the name');
  t.notMatch(defaults('/reports/report-20240101.csv'), /immutable/, 'a date stamp is not a content hash');
});

t.test('headers for 200 and 304, per coding', async (t) => {
  const plain = buildRepresentation({ file, coding: 'identity', fileName: 'a.css', cacheControl: 'no-cache', varies: false });
  t.equal(plain.etag, '"1-2a-3"');
  t.same(plain.headers, {
    'Content-Type': 'text/css; charset=utf-8', 'Content-Length': '42', 'Accept-Ranges': 'bytes', 'X-Content-Type-Options': 'nosniff',
    ETag: '"1-2a-3"', 'Last-Modified': file.lastModified, 'Cache-Control': 'no-cache',
  });
  t.same(plain.notModifiedHeaders, { ETag: '"1-2a-3"', 'Last-Modified': file.lastModified, 'Cache-Control': 'no-cache' });
  t.ok(Object.isFrozen(plain.headers));
  const br = buildRepresentation({ file, coding: 'br', fileName: 'a.css', cacheControl: undefined, varies: true });
  t.equal(br.etag, '"1-2a-3-br"', 'a twin has its own tag');
  t.equal(br.headers['Content-Encoding'], 'br');
  t.equal(br.headers['Vary'], 'Accept-Encoding');
  t.equal(br.notModifiedHeaders['Vary'], 'Accept-Encoding');
  t.equal(br.headers['Cache-Control'], undefined);
});
