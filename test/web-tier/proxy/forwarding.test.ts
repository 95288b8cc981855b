import t from 'tap';
import http from 'node:http';
import { echo, echoed, rawExchange, request, startFront, startUpstream } from './helpers.js';

t.test('edge headers: client-sent X-Forwarded-*, Forwarded and X-Request-Id are replaced (http-proxy#250)', async (t) => {
  const upstream = await startUpstream(t, echo);
  const front = await startFront(t, { upstreams: [upstream.url] });
  const reply = await request(front.port, {
    headers: {
      'x-forwarded-for': '6.6.6.6',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'evil.example',
      forwarded: 'for=6.6.6.6;proto=https',
      'x-request-id': 'client-chosen',
    },
  });
  t.equal(reply.status, 200);
  const seen = echoed(reply).headers;
  const ctx = front.contexts[0];
  t.equal(seen['x-forwarded-for'], '127.0.0.1');
  t.equal(seen['x-forwarded-proto'], 'http');
  t.equal(seen['x-forwarded-host'], `127.0.0.1:${front.port}`);
  t.equal(seen.forwarded, `for=127.0.0.1;host="127.0.0.1:${front.port}";proto=http`);
  t.equal(seen['x-request-id'], ctx?.requestId, 'the request id reaches the app');
  t.match(seen.via, /^1\.1 twotier-web-[0-9a-f]{16}$/, 'this hop\'s Via element, with the deployment\'s token (loop-guard.ts)');
  t.equal(seen.host, `127.0.0.1:${front.port}`, 'Host is the one the client sent');
  t.equal(reply.headers['x-request-id'], ctx?.requestId, 'and comes back on the response');
  t.equal(reply.headers['x-served-by'], 'app');
  t.equal(ctx?.servedBy, 'app');
  t.equal(ctx?.upstream, upstream.url);
});

t.test('a trusted proxy peer keeps the chain, with the peer appended', async (t) => {
  const upstream = await startUpstream(t, echo);
  const front = await startFront(t, { upstreams: [upstream.url], trustedProxies: ['127.0.0.1'] });
  const seen = echoed(await request(front.port, { headers: { 'x-forwarded-for': '203.0.113.7, 10.0.0.2' } })).headers;
  t.equal(seen['x-forwarded-for'], '203.0.113.7, 10.0.0.2, 127.0.0.1');
});

t.test('hop-by-hop fields are removed on the way in, and Proxy is dropped (httpoxy)', async (t) => {
  const upstream = await startUpstream(t, echo);
  const front = await startFront(t, { upstreams: [upstream.url] });
  const reply = await request(front.port, {
    headers: {
      connection: 'keep-alive, X-Secret-Hop',
      'x-secret-hop': 'leak',
      'keep-alive': 'timeout=99',
      te: 'trailers',
      'proxy-connection': 'keep-alive',
      upgrade: 'websocket',
      proxy: 'http://evil.example:8080',
      'x-end-to-end': 'kept',
    },
  });
  const seen = echoed(reply).headers;
  for (const name of ['x-secret-hop', 'keep-alive', 'te', 'proxy-connection', 'upgrade', 'proxy', 'transfer-encoding']) {
    t.equal(seen[name], undefined, `${name} not forwarded`);
  }
  t.not(seen['keep-alive'], 'timeout=99');
  t.equal(seen.connection, 'keep-alive', 'only the proxy’s own pooled-connection header');
  t.equal(seen['x-end-to-end'], 'kept');
});

t.test('hop-by-hop fields are removed on the way out', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => {
    res.writeHead(200, {
      connection: 'keep-alive, X-Internal',
      'x-internal': 'secret',
      'keep-alive': 'timeout=99, max=7',
      'proxy-connection': 'keep-alive',
      trailer: 'X-Checksum',
      upgrade: 'h2c',
      'content-type': 'text/plain',
      'set-cookie': ['a=1', 'b=2'],
    });
    res.end('ok');
  });
  const front = await startFront(t, { upstreams: [upstream.url] });
  const reply = await request(front.port);
  t.equal(reply.status, 200);
  t.equal(reply.body, 'ok');
  t.equal(reply.headers['x-internal'], undefined);
  t.not(reply.headers['keep-alive'], 'timeout=99, max=7');
  t.equal(reply.headers['proxy-connection'], undefined);
  t.equal(reply.headers.trailer, undefined);
  t.equal(reply.headers.upgrade, undefined);
  t.notMatch(reply.headers.connection ?? '', /x-internal/i);
  t.same(reply.headers['set-cookie'], ['a=1', 'b=2'], 'end-to-end fields kept, Set-Cookie unjoined');
  t.equal(reply.headers['x-served-by'], 'app');
});

t.test('a client-sent Trailer header cannot crash the process (http-proxy#1647)', async (t) => {
  const upstream = await startUpstream(t, echo);
  const front = await startFront(t, { upstreams: [upstream.url] });
  // Raw bytes: node's own client refuses to send Trailer without a chunked body.
  const bodiless = await rawExchange(front.port, 'GET /api/x HTTP/1.1\r\nHost: a.test\r\nTrailer: X-Checksum\r\nConnection: close\r\n\r\n');
  t.match(bodiless, /^HTTP\/1\.1 200 /);
  t.notMatch(bodiless.slice(bodiless.indexOf('\r\n\r\n')), /"trailer"/i, 'Trailer not forwarded');
  const chunked = await rawExchange(front.port, 'POST /api/x HTTP/1.1\r\nHost: a.test\r\nTrailer: X-Checksum\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nhi\r\n0\r\nX-Checksum: 1\r\n\r\n');
  t.match(chunked, /^HTTP\/1\.1 200 /);
  t.match(chunked, /"body":"hi"/);
});

t.test('the request-target reaches the app byte-identical, query included', async (t) => {
  const upstream = await startUpstream(t, echo);
  const front = await startFront(t, { upstreams: [upstream.url] });
  const targets = [
    "/api//double//slash/?q=a+b&q=%41&empty=&x='quote'",
    '/api/a\\b/%2F%2e%zz;p=1?%00=%ff&&#',
    '/articles/2003/05/my-slug/',
  ];
  for (const target of targets) {
    const text = await rawExchange(front.port, `GET ${target} HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n`);
    const body = text.slice(text.indexOf('\r\n\r\n') + 4);
    t.equal((JSON.parse(body) as { url: string }).url, target, target);
  }
});

t.test('an upstream base path is prefixed to the target', async (t) => {
  const upstream = await startUpstream(t, echo);
  const front = await startFront(t, { upstreams: [`${upstream.url}/mount/`] });
  t.equal(echoed(await request(front.port, { path: '/api/x?y=1' })).url, '/mount/api/x?y=1');
});

t.test('50 concurrent proxied requests each get their own answer', async (t) => {
  const upstream = await startUpstream(t, (req, res) => {
    const body = `answer for ${req.url}`;
    // Answer in reverse arrival order so that any mix-up would show.
    setImmediate(() => res.end(body));
  });
  const front = await startFront(t, { upstreams: [upstream.url], maxSocketsPerUpstream: 8 });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
  t.teardown(() => agent.destroy());
  const replies = await Promise.all(Array.from({ length: 50 }, (_, index) => request(front.port, { path: `/api/n/${index}?i=${index}`, agent })));
  replies.forEach((reply, index) => {
    t.equal(reply.status, 200);
    t.equal(reply.body, `answer for /api/n/${index}?i=${index}`);
  });
  t.ok(upstream.connections() <= 8, `at most 8 upstream connections (saw ${upstream.connections()})`);
});

t.test('status line, 204/304 and HEAD pass through without a body', async (t) => {
  const upstream = await startUpstream(t, (req, res) => {
    if (req.url === '/api/created') {
      res.writeHead(201, 'Made It', { location: '/api/items/1' });
      res.end('{}');
    } else if (req.url === '/api/none') {
      res.writeHead(204);
      res.end();
    } else {
      res.writeHead(200, { 'content-length': '5' });
      res.end(req.method === 'HEAD' ? undefined : 'hello');
    }
  });
  const front = await startFront(t, { upstreams: [upstream.url] });
  const created = await request(front.port, { method: 'POST', path: '/api/created', body: '' });
  t.equal(created.status, 201);
  t.equal(created.headers.location, '/api/items/1');
  const none = await request(front.port, { path: '/api/none' });
  t.equal(none.status, 204);
  t.equal(none.body, '');
  const head = await request(front.port, { method: 'HEAD', path: '/api/x' });
  t.equal(head.status, 200);
  t.equal(head.headers['content-length'], '5');
  t.equal(head.body, '');
});
