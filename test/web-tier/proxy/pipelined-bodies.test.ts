/**
 * Attacker's review (issues 12/13): a request the proxy has already answered must not keep its
 * buffered body. Node hands pipelined requests over at once and holds their responses behind
 * the one on the wire; the body copy was given back only on the response's 'close', which for
 * a queued response comes once everything before it is written. So one connection whose first
 * request waits on a slow upstream could pipeline bodies that are each answered 503 at once
 * (queue full) and still pin them, in memory or in the temp budget, for as long as the head of
 * the line waits: here another client's upload is then refused "temp space full".
 */
import t from 'tap';
import http from 'node:http';
import { once } from 'node:events';
import { openSocket, rawExchange } from '../../helpers/raw-http.js';
import { closeServer, listen } from '../../helpers/upstream.js';
import { startWeb } from '../../helpers/web-tier.js';
import { openInto } from './spill-helpers.js';

t.test('bodies of answered pipelined requests give their temp budget back at once', async (t) => {
  const held: http.ServerResponse[] = [];
  let holding: () => void = () => undefined;
  const slowArrived = new Promise<void>((resolve) => {
    holding = resolve;
  });
  const upstream = http.createServer((req, res) => {
    req.resume();
    // The head of the line: kept waiting until the test lets it go.
    if (req.url?.startsWith('/api/slow') === true) {
      held.push(res);
      holding();
    }
    else req.on('end', () => res.end('ok'));
  });
  const port = await listen(upstream);
  t.teardown(() => {
    for (const res of held) res.end('late');
    return closeServer(upstream);
  });
  const tempDir = t.testdir({});
  const { port: webPort, log } = await startWeb(t, {
    env: {
      APP_UPSTREAMS: `http://127.0.0.1:${port}`, WEB_PROXY_HEALTH_INTERVAL_MS: '0',
      WEB_PROXY_MAX_SOCKETS: '1', WEB_PROXY_MAX_QUEUE: '0',
      WEB_PROXY_BUFFER_BODY: '1024', WEB_PROXY_BODY_TEMP_DIR: tempDir, WEB_PROXY_BODY_TEMP_MAX_BYTES: String(100 * 1024),
    },
  });
  const body = 'b'.repeat(20 * 1024);
  const post = `POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  // The attacker: one slow GET, then ten 20 KiB bodies (200 KiB, twice the budget), pipelined.
  const attacker = await openSocket(webPort);
  attacker.on('error', () => undefined);
  t.teardown(() => attacker.destroy());
  attacker.write(`GET /api/slow HTTP/1.1\r\nHost: a\r\n\r\n${post.repeat(10)}`);
  // Wait until the head of the line holds the only slot upstream.
  await Promise.race([slowArrived, new Promise((resolve) => setTimeout(resolve, 3_000).unref())]);
  t.equal(held.length, 1, 'the slow request holds the upstream slot');
  // Each pipelined POST is read and answered 503 at once (no queue, or no temp space left).
  const answered = (): number => log.lines().filter((line) => line['code'] === 'WEB_ERR_OVERLOADED').length;
  await new Promise<void>((resolve) => {
    const check = (): void => {
      if (answered() < 10) return;
      clearTimeout(timer);
      log.stream.off('line', check);
      resolve();
    };
    const timer = setTimeout(() => {
      log.stream.off('line', check);
      resolve();
    }, 3_000);
    log.stream.on('line', check);
    check();
  });
  t.equal(answered(), 10, 'every pipelined POST was answered 503');
  // File closes are async and announce nothing: looked at again, bounded, until they are done.
  for (let waited = 0; openInto(tempDir).length > 0 && waited < 100; waited += 1) await new Promise((resolve) => setTimeout(resolve, 10));
  t.same(openInto(tempDir), [], 'no answered request still holds its spilled body');
  // The victim, on a connection of its own: the slot is busy, so 503 queue full is the best it
  // can get, never a refusal for temp space that answered bodies still hold.
  const before = log.lines().length;
  await rawExchange(webPort, post, { responses: 1, timeoutMs: 3_000 });
  const victim = log.lines().slice(before).filter((line) => line['code'] === 'WEB_ERR_OVERLOADED');
  t.same(victim.map((line) => line['reason'] ?? line['msg']), ['queue-full'], 'the victim is refused for the busy slot, not for temp space');
  held[0]?.end('done');
  await once(attacker, 'data');
});
