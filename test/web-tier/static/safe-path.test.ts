import t from 'tap';
import { directoryLocation, encodeSegment, parseStaticPath } from '../../../web-tier/static/safe-path.js';

t.test('plain paths decode once into segments', async (t) => {
  t.same(parseStaticPath('/'), { ok: true, segments: [], urlPath: '/', trailingSlash: true });
  t.same(parseStaticPath('/a/b.txt'), { ok: true, segments: ['a', 'b.txt'], urlPath: '/a/b.txt', trailingSlash: false });
  t.same(parseStaticPath('/with%20space.txt'), { ok: true, segments: ['with space.txt'], urlPath: '/with space.txt', trailingSlash: false });
  t.same(parseStaticPath('/caf%C3%A9/'), { ok: true, segments: ['café'], urlPath: '/café/', trailingSlash: true });
  t.same(parseStaticPath('//a//b/'), { ok: true, segments: ['a', 'b'], urlPath: '/a/b/', trailingSlash: true }, 'empty segments merged');
  const double = parseStaticPath('/%252e%252e/x');
  t.same(double.ok && double.segments, ['%2e%2e', 'x'], 'decoded exactly once: %252e stays the literal text %2e');
});

t.test('traversal, separators, NUL, controls and bad UTF-8 are 400', async (t) => {
  for (const path of ['/..', '/a/../b', '/%2e%2e/x', '/%2E%2e/x', '/.', '/a/%2e/b', '/..%2fx', '/a%2fb', '/a%5cb', '/a\\b', '/\\evil', '/a%00b', '/a%0d%0ab',
    '/%7f', '/%c0%ae%c0%ae/', '/%e0%80%ae', '/%ff', '/%', '/%zz', 'relative', '']) {
    const result = parseStaticPath(path);
    t.equal(result.ok ? 'ok' : result.code, 'WEB_ERR_BAD_REQUEST', JSON.stringify(path));
  }
});

t.test('dotfiles and dot-directories are 404, except /.well-known/', async (t) => {
  for (const path of ['/.env', '/.git/config', '/a/.hidden', '/%2eenv', '/.htaccess']) {
    const result = parseStaticPath(path);
    t.equal(result.ok ? 'ok' : result.code, 'WEB_ERR_NOT_FOUND', path);
  }
  t.equal(parseStaticPath('/.well-known/security.txt').ok, true);
  t.equal(parseStaticPath('/a.b/c..d').ok, true, 'dots inside names are fine');
});

t.test('the redirect location is always path-absolute on this host', async (t) => {
  t.equal(directoryLocation(['docs'], ''), '/docs/');
  t.equal(directoryLocation(['evil.example'], '?a=1'), '/evil.example/?a=1');
  t.equal(directoryLocation(['a b', 'c?d#e'], ''), '/a%20b/c%3Fd%23e/');
  t.equal(directoryLocation([], ''), '/');
  t.equal(directoryLocation(['//x'], ''), '/%2F%2Fx/', 'a slash inside a segment stays encoded');
  t.equal(encodeSegment("a:b@c!$&'()*+,;="), "a:b@c!$&'()*+,;=", 'sub-delims stay readable');
});
