import t from 'tap';
import {
  bodyFraming, buildRequestHeaderList, buildRequestHeaders, buildResponseHeaders, connectionMayName, connectionOptions, forwardedFor, forwardedHeader, normalizeAddress,
  originalProto, realIp, requestFraming, withoutHopByHop,
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
    forwarded: 'for=192.0.2.10;host="site.example:8080";proto=http', 'x-real-ip': '192.0.2.10', 'x-request-id': 'req-1', via: '1.0 corp-proxy, 1.1 twotier-web',
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
    'Host', 'site.example:8080', 'Accept', '*/*', 'Cookie', 'a=1', 'Cookie', 'b=2', 'content-length', '3',
    'x-forwarded-for', '192.0.2.10', 'x-forwarded-proto', 'http', 'x-forwarded-host', 'site.example:8080',
    'forwarded', 'for=192.0.2.10;host="site.example:8080";proto=http', 'x-real-ip', '192.0.2.10', 'x-request-id', 'req-1', 'via', '1.0 corp-proxy, 1.1 twotier-web',
  ]);
  const trusted = buildRequestHeaderList(['X-Forwarded-For', '6.6.6.6', 'x-forwarded-for', '7.7.7.7'], facts, new Set(['192.0.2.10']));
  t.equal(trusted[trusted.indexOf('x-forwarded-for') + 1], '6.6.6.6, 7.7.7.7, 192.0.2.10', 'a trusted peer\'s chain is kept, then the peer');
  const chunked = buildRequestHeaderList(['Transfer-Encoding', 'gzip, chunked', 'Content-Length', '5'], facts, new Set());
  t.same(chunked.slice(0, 2), ['transfer-encoding', 'chunked'], 'the web tier\'s own framing, first when nothing else is kept');
  t.notOk(chunked.some((name) => name.toLowerCase() === 'content-length'));
});

t.test('Connection may not remove the framing, Host or any field the edge sets (issue 12: smuggling)', async (t) => {
  for (const field of ['content-length', 'transfer-encoding', 'host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'forwarded', 'x-request-id', 'via', 'x-real-ip']) {
    t.notOk(connectionMayName(field), field);
  }
  for (const field of ['x-custom', 'cookie', 'authorization', 'keep-alive']) t.ok(connectionMayName(field), field);
  const raw = [
    'Host', 'site.example', 'Connection', 'keep-alive, Content-Length, host, X-Forwarded-For, x-custom', 'Connection', 'Transfer-Encoding, via, x-real-ip',
    'Content-Length', '36', 'X-Custom', 'gone', 'Cookie', 'k=v',
  ];
  const out = buildRequestHeaderList(raw, facts, new Set());
  const names = out.filter((_, index) => index % 2 === 0).map((name) => name.toLowerCase());
  t.same(names, ['host', 'cookie', 'content-length', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'x-real-ip', 'x-request-id', 'via'], 'only x-custom was removable');
  t.equal(out[out.indexOf('content-length') + 1], '36');
  const object = buildRequestHeaders({ host: 'site.example', connection: 'content-length, host', 'content-length': '36' }, facts, new Set());
  t.equal(object['content-length'], '36', 'the http-proxy engine\'s header object too');
  t.equal(object.host, 'site.example');
  // The response direction is unchanged: the app is trusted and node frames the client's response itself.
  t.same(buildResponseHeaders(['Connection', 'content-length', 'Content-Length', '2'], 'r'), ['X-Request-Id', 'r', 'X-Served-By', 'app']);
});

t.test('the forwarded framing is the web tier\'s: from what node parsed, never from the client\'s fields as sent (RFC 9112 §6)', async (t) => {
  t.same(requestFraming(['Content-Length', '036']), { kind: 'length', length: 36 });
  t.same(requestFraming(['transfer-encoding', 'gzip, chunked']), { kind: 'chunked' });
  t.same(requestFraming(['Host', 'x']), { kind: 'none' });
  t.throws(() => requestFraming(['Content-Length', '1', 'content-length', '1']), RangeError, 'two lengths are never forwarded (node refuses them first)');
  t.throws(() => requestFraming(['Content-Length', '1e3']), RangeError);
  const list = buildRequestHeaderList(['Content-Length', '007', 'Host', 'x'], facts, new Set());
  t.same(list.slice(0, 4), ['Host', 'x', 'content-length', '7'], 'the client\'s field goes, the edge writes its own');
  t.notOk(buildRequestHeaderList(['Host', 'x'], facts, new Set()).some((name) => /^(content-length|transfer-encoding)$/i.test(name)), 'no body, no framing fields');
});

t.test('X-Real-IP is the edge\'s: the peer, or what a trusted proxy reports (issue 12.6)', async (t) => {
  const trusted = new Set(['10.0.0.1']);
  t.equal(realIp('192.0.2.10', '6.6.6.6', '6.6.6.6', trusted), '192.0.2.10', 'a client cannot name itself');
  t.equal(realIp('10.0.0.1', '203.0.113.5', undefined, trusted), '203.0.113.5', 'a trusted proxy\'s X-Real-IP without X-Forwarded-For');
  t.equal(realIp('10.0.0.1', undefined, '198.51.100.1, 203.0.113.5', trusted), '203.0.113.5', 'the last X-Forwarded-For hop');
  t.equal(realIp('10.0.0.1', '198.51.100.9', '203.0.113.5, 10.0.0.2', new Set(['10.0.0.1', '10.0.0.2'])), '203.0.113.5', 'the last address that is not a trusted proxy, as the per-client limits count');
  t.equal(realIp('10.0.0.1', 'not-an-ip', undefined, trusted), '10.0.0.1');
  t.equal(realIp('10.0.0.1', '::ffff:203.0.113.5', undefined, trusted), '203.0.113.5');
  const list = buildRequestHeaderList(['X-Real-IP', '6.6.6.6', 'x-real-ip', '7.7.7.7'], facts, new Set());
  t.same(list.filter((name) => name.toLowerCase() === 'x-real-ip').length, 1);
  t.equal(list[list.indexOf('x-real-ip') + 1], '192.0.2.10');
});

t.test('a trusted proxy\'s proto is kept, anyone else\'s replaced by the connection\'s (issue 12.6)', async (t) => {
  const trusted = new Set(['10.0.0.1']);
  const proxied = { ...facts, peer: '10.0.0.1' };
  t.equal(originalProto(proxied, 'https', undefined, trusted), 'https');
  t.equal(originalProto(proxied, 'HTTPS, http', undefined, trusted), 'https', 'the first hop of a chain');
  t.equal(originalProto(proxied, undefined, 'for=1.2.3.4;proto=https, for=10.0.0.1;proto=http', trusted), 'https', 'Forwarded\'s first element');
  t.equal(originalProto(proxied, 'gopher', undefined, trusted), 'http', 'only http or https');
  t.equal(originalProto(facts, 'https', 'proto=https', trusted), 'http', 'an untrusted peer cannot claim https');
  t.equal(originalProto({ ...facts, proto: 'https' }, 'http', undefined, trusted), 'https', 'nor http on a TLS connection');

  const fromProxy = buildRequestHeaderList(['X-Forwarded-Proto', 'https', 'Forwarded', 'for=203.0.113.5;proto=https', 'X-Forwarded-Port', '443'], proxied, trusted);
  t.equal(fromProxy[fromProxy.indexOf('x-forwarded-proto') + 1], 'https');
  t.equal(fromProxy[fromProxy.indexOf('forwarded') + 1], 'for=203.0.113.5;proto=https, for=10.0.0.1;host="site.example:8080";proto=https', 'RFC 7239 §4: its elements kept, this hop appended');
  t.ok(fromProxy.includes('X-Forwarded-Port'), 'a trusted proxy\'s other X-Forwarded-* fields pass');
  const fromClient = buildRequestHeaderList(['X-Forwarded-Proto', 'https', 'Forwarded', 'proto=https', 'X-Forwarded-Port', '443', 'X-Forwarded-Ssl', 'on'], facts, trusted);
  t.equal(fromClient[fromClient.indexOf('x-forwarded-proto') + 1], 'http');
  t.equal(fromClient[fromClient.indexOf('forwarded') + 1], 'for=192.0.2.10;host="site.example:8080";proto=http');
  t.notOk(fromClient.some((name) => /^x-forwarded-(port|ssl)$/i.test(name)), 'a client\'s X-Forwarded-Port/-Ssl never pass');
});
