import t from 'tap';
import {
  bodyFraming, buildRequestHeaderList, buildRequestHeaders, buildResponseHeaders, connectionOptions, forwardedFor, forwardedHeader, normalizeAddress, withoutHopByHop,
} from '../../../web-tier/proxy/headers.js';

const facts = { peer: '192.0.2.10', proto: 'http' as const, host: 'site.example:8080', requestId: 'req-1' };

t.test('Connection options are parsed case-insensitively, lists and repeats included', async (t) => {
  t.same(connectionOptions('Keep-Alive, X-Foo ,,x-bar'), ['keep-alive', 'x-foo', 'x-bar']);
  t.same(connectionOptions(['close', 'X-A']), ['close', 'x-a']);
  t.same(connectionOptions(undefined), []);
});

t.test('hop-by-hop fields and every field Connection names are removed (RFC 9110 §7.6.1)', async (t) => {
  const kept = withoutHopByHop([
    'connection', 'X-Named', 'x-named', '1', 'keep-alive', 'timeout=5', 'te', 'trailers', 'upgrade', 'h2c',
    'proxy-connection', 'keep-alive', 'transfer-encoding', 'chunked', 'trailer', 'X-T', 'x-kept', 'yes', 'content-type', 'text/plain',
  ]);
  t.same(kept, ['x-kept', 'yes', 'content-type', 'text/plain']);
});

t.test('X-Forwarded-For: the peer only, unless the peer is trusted', async (t) => {
  const trusted = new Set(['10.0.0.1']);
  t.equal(forwardedFor('192.0.2.10', '6.6.6.6', trusted), '192.0.2.10');
  t.equal(forwardedFor('10.0.0.1', '203.0.113.5', trusted), '203.0.113.5, 10.0.0.1');
  t.equal(forwardedFor('10.0.0.1', ['203.0.113.5', '198.51.100.1'], trusted), '203.0.113.5, 198.51.100.1, 10.0.0.1');
  t.equal(forwardedFor('10.0.0.1', undefined, trusted), '10.0.0.1');
  t.equal(forwardedFor('10.0.0.1', ' ', trusted), '10.0.0.1');
});

t.test('addresses are normalised: IPv4-mapped IPv6 becomes IPv4', async (t) => {
  t.equal(normalizeAddress('::ffff:127.0.0.1'), '127.0.0.1');
  t.equal(normalizeAddress('::1'), '::1');
  t.equal(normalizeAddress('FE80::1'), 'fe80::1');
  t.equal(normalizeAddress(undefined), 'unknown');
});

t.test('Forwarded (RFC 7239): IPv6 bracketed and quoted, host quoted when not a token', async (t) => {
  t.equal(forwardedHeader(facts), 'for=192.0.2.10;host="site.example:8080";proto=http');
  t.equal(forwardedHeader({ ...facts, peer: '::1', host: 'plain' }), 'for="[::1]";host=plain;proto=http');
  t.equal(forwardedHeader({ ...facts, host: undefined, proto: 'https' }), 'for=192.0.2.10;proto=https');
  t.equal(forwardedHeader({ ...facts, host: 'a"b\\c' }), 'for=192.0.2.10;host="a\\"b\\\\c";proto=http');
});

t.test('the request header section: edge values win, Proxy/Expect dropped, Via added', async (t) => {
  const out = buildRequestHeaders({
    host: 'site.example:8080', 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil',
    forwarded: 'for=evil', 'x-request-id': 'spoofed', proxy: 'http://evil', expect: '100-continue', via: '1.0 corp-proxy',
    'content-length': '3', accept: '*/*',
  }, facts, new Set());
  t.same(out, {
    host: 'site.example:8080', 'content-length': '3', accept: '*/*',
    'x-forwarded-for': '192.0.2.10', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'site.example:8080',
    forwarded: 'for=192.0.2.10;host="site.example:8080";proto=http', 'x-request-id': 'req-1', via: '1.0 corp-proxy, 1.1 twotier-web',
  });
});

t.test('a chunked request stays chunked and loses any Content-Length (RFC 9112 §6.3)', async (t) => {
  const out = buildRequestHeaders({ 'transfer-encoding': 'gzip, chunked', 'content-length': '5' }, facts, new Set());
  t.equal(out['transfer-encoding'], 'chunked');
  t.equal(out['content-length'], undefined);
  t.equal(bodyFraming({ 'transfer-encoding': 'chunked' }), 'chunked');
  t.equal(bodyFraming({ 'content-length': '0' }), 'length');
  t.equal(bodyFraming({}), 'none');
});

t.test('the response header section: hop-by-hop out, request id and X-Served-By in', async (t) => {
  const upstream = ['Connection', 'keep-alive, X-Up', 'X-Up', '1', 'Keep-Alive', 'timeout=5', 'Content-Length', '2', 'X-Request-Id', 'app-made', 'Set-Cookie', 'a=1', 'set-cookie', 'b=2', 'X-Served-By', 'web'];
  const before = [...upstream];
  const out = buildResponseHeaders(upstream, 'req-1');
  t.same(out, ['Content-Length', '2', 'Set-Cookie', 'a=1', 'set-cookie', 'b=2', 'X-Request-Id', 'req-1', 'X-Served-By', 'app']);
  t.same(upstream, before, 'the upstream headers are not mutated (node reads the Keep-Alive hint later)');
});

t.test('the request header list says what the header object says, names in their case, repeats kept', async (t) => {
  const raw = [
    'Host', 'site.example:8080', 'X-Forwarded-For', '6.6.6.6', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'evil',
    'Forwarded', 'for=evil', 'X-Request-Id', 'spoofed', 'Proxy', 'http://evil', 'Expect', '100-continue', 'Via', '1.0 corp-proxy',
    'Content-Length', '3', 'Accept', '*/*', 'Connection', 'keep-alive, X-Hop', 'X-Hop', 'gone', 'Keep-Alive', 'timeout=5',
    'Cookie', 'a=1', 'Cookie', 'b=2',
  ];
  const out = buildRequestHeaderList(raw, facts, new Set());
  t.same(out, [
    'Host', 'site.example:8080', 'Content-Length', '3', 'Accept', '*/*', 'Cookie', 'a=1', 'Cookie', 'b=2',
    'x-forwarded-for', '192.0.2.10', 'x-forwarded-proto', 'http', 'x-forwarded-host', 'site.example:8080',
    'forwarded', 'for=192.0.2.10;host="site.example:8080";proto=http', 'x-request-id', 'req-1', 'via', '1.0 corp-proxy, 1.1 twotier-web',
  ]);
  const trusted = buildRequestHeaderList(['X-Forwarded-For', '6.6.6.6', 'x-forwarded-for', '7.7.7.7'], facts, new Set(['192.0.2.10']));
  t.equal(trusted[trusted.indexOf('x-forwarded-for') + 1], '6.6.6.6, 7.7.7.7, 192.0.2.10', 'a trusted peer\'s chain is kept, then the peer');
  const chunked = buildRequestHeaderList(['Transfer-Encoding', 'gzip, chunked', 'Content-Length', '5'], facts, new Set());
  t.same(chunked.slice(0, 2), ['transfer-encoding', 'chunked']);
  t.notOk(chunked.some((name) => name.toLowerCase() === 'content-length'));
});
