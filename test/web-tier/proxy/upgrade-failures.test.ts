/**
 * Hostile upstreams and clients around a WebSocket upgrade (issue 16): each failure ends both
 * sockets and never the process. Each case is a report against http-proxy and friends: a reset
 * after the 101 (http-proxy#1468/#1439), a non-101 answer, refused / silent upstreams, a client
 * that leaves during the handshake or the stream, a client that sends before the 101.
 */
import { once } from 'node:events';
import net from 'node:net';
import t from 'tap';
import { closed, connect, handshakeHead, rawUpgrade, readHead, roundTrip, startRawUpstream, startWebFor, startWsUpstream, switchingProtocols } from './upgrade-helpers.js';
import { refusedUrl, request } from './helpers.js';

t.test('an upstream reset after the 101 ends the client connection; the process lives on', async (t) => {
  const upstream = await startRawUpstream(t, (socket) => {
    void readHead(socket).then(async ({ head }) => {
      socket.write(await switchingProtocols(head));
      // A reset (RST), not a close: the case http-proxy#1468 crashed on.
      setImmediate(() => socket.resetAndDestroy());
    });
  });
  const { port } = await startWebFor(t, upstream.url);
  const opened = await connect(t, port);
  if (opened.kind !== 'open') throw new Error(`handshake ended ${JSON.stringify(opened)}`);
  t.equal(await closed(opened.socket), 1006, 'the client sees its connection end (no close frame)');
  const after = await request(port, { path: '/index.html' });
  t.equal(after.status, 200, 'the web tier still serves');
});

t.test('an upstream that answers the upgrade with a 403 has it relayed as HTTP', async (t) => {
  const upstream = await startRawUpstream(t, (socket) => {
    void readHead(socket).then(() => socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nX-App: yes\r\n\r\nno thanks'));
  });
  const { port } = await startWebFor(t, upstream.url);
  const answer = await connect(t, port);
  if (answer.kind !== 'refused') throw new Error(`handshake ended ${JSON.stringify(answer)}`);
  t.equal(answer.status, 403);
  t.equal(answer.body, 'no thanks');
  t.equal(answer.headers['x-app'], 'yes');
  t.equal(answer.headers.connection, 'close', 'and the connection closes after it');
});

t.test('an upstream that switches to another protocol is a 502', async (t) => {
  const upstream = await startRawUpstream(t, (socket) => {
    void readHead(socket).then(() => socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n'));
  });
  const { port } = await startWebFor(t, upstream.url);
  const answer = await connect(t, port);
  t.equal(answer.kind === 'refused' ? answer.status : answer.kind, 502);
});

t.test('a refused upstream is a 502, a silent one a 504', async (t) => {
  const refused = await startWebFor(t, await refusedUrl());
  const first = await connect(t, refused.port);
  t.equal(first.kind === 'refused' ? first.status : first.kind, 502, 'refused: 502');

  const silent = await startRawUpstream(t, (socket) => socket.resume());
  const slow = await startWebFor(t, silent.url, { env: { WEB_PROXY_RESPONSE_TIMEOUT_MS: '300' } });
  const second = await connect(t, slow.port);
  t.equal(second.kind === 'refused' ? second.status : second.kind, 504, 'no 101 within the response timeout: 504');
  const line = slow.log.lines().find((entry) => entry['msg'] === 'upgrade handshake failed');
  t.equal(line?.['code'], 'UPSTREAM_TIMEOUT');
});

t.test('a client gone during the handshake: the upstream request is cut and its slot given back', async (t) => {
  const heads: string[] = [];
  let firstHead: () => void = () => undefined;
  const headSeen = new Promise<void>((resolve) => (firstHead = resolve));
  const upstream = await startRawUpstream(t, (socket) => {
    void readHead(socket).then(async ({ head }) => {
      heads.push(head);
      firstHead();
      // The second handshake (the same slot, given back) is answered; the first never is.
      if (heads.length > 1) socket.write(await switchingProtocols(head));
    });
  });
  const { port } = await startWebFor(t, upstream.url, { env: { WEB_PROXY_MAX_SOCKETS: '1', WEB_PROXY_MAX_QUEUE: '0', WEB_PROXY_RESPONSE_TIMEOUT_MS: '60000' } });
  const client = net.connect(port, '127.0.0.1');
  client.on('error', () => undefined);
  client.write(handshakeHead('/api/live'));
  await headSeen;
  const cut = once(upstream.sockets[0] as net.Socket, 'close').then(() => 'cut');
  client.destroy();
  // Well before the response timeout (60 s here), which would otherwise be what ends it.
  const bound = new Promise((resolve) => setTimeout(resolve, 10_000, 'still open')).finally(() => undefined);
  t.equal(await Promise.race([cut, bound]), 'cut', 'the upstream side of the abandoned handshake was closed');
  const next = await connect(t, port);
  t.equal(next.kind, 'open', 'the only upstream slot was given back (max sockets 1, no queue)');
});

t.test('a client gone mid-stream: the upstream connection ends too', async (t) => {
  const upstream = await startWsUpstream(t);
  const { port } = await startWebFor(t, upstream.url);
  const opened = await connect(t, port);
  if (opened.kind !== 'open') throw new Error(`handshake ended ${JSON.stringify(opened)}`);
  t.equal(await roundTrip(opened.socket, 'one'), 'one');
  const [server] = [...upstream.wss.clients];
  const gone = once(server!, 'close');
  opened.socket.terminate();
  const [code] = (await gone) as [number];
  t.equal(code, 1006, 'the app sees its connection end');
  t.equal((await request(port, { path: '/index.html' })).status, 200, 'the web tier still serves');
});

t.test('bytes the client sends before the 101 reach the upstream after it, in order', async (t) => {
  let release: () => void = () => undefined;
  let headArrived: () => void = () => undefined;
  const upstreamHasHead = new Promise<void>((resolve) => (headArrived = resolve));
  const received: Buffer[] = [];
  const gotAll = new Promise<void>((resolve) => {
    void startRawUpstream(t, (socket) => {
      void readHead(socket).then(async ({ head, rest }) => {
        t.equal(rest.length, 0, 'nothing of the early bytes arrives before the 101');
        const released = new Promise<void>((go) => (release = go));
        headArrived();
        await released;
        socket.write(await switchingProtocols(head));
        socket.resume();
        socket.on('data', (chunk: Buffer) => {
          received.push(chunk);
          if (Buffer.concat(received).length >= 6) resolve();
        });
      });
    }).then(async (upstream) => {
      const { port } = await startWebFor(t, upstream.url);
      const client = net.connect(port, '127.0.0.1');
      client.on('error', () => undefined);
      t.teardown(() => client.destroy());
      // "abc" rides in the same packet as the head (node's `head`); "def" follows before the 101.
      client.write(`${handshakeHead('/api/live')}abc`);
      await upstreamHasHead;
      // Flushed to the kernel before the upstream is let to answer: sent before the 101.
      await new Promise((go) => client.write('def', go));
      release();
    });
  });
  await gotAll;
  t.equal(Buffer.concat(received).toString('latin1'), 'abcdef');
});

t.test('a raw client that never completes its body-less handshake gets a bounded answer', async (t) => {
  const upstream = await startWsUpstream(t);
  const { port } = await startWebFor(t, upstream.url);
  const answer = await rawUpgrade(port, handshakeHead('/api/live', ['Content-Length: 5']) + 'hello');
  t.match(answer, /^HTTP\/1\.1 400 /, 'a handshake with a body: 400, not a hang');
});
