/**
 * Every request that was read is accounted for, however the client leaves: one access-log
 * line each, and the in-flight gauge back where it was. Node queues the responses of
 * pipelined requests behind the one on the wire and never closes the queued ones when the
 * socket goes first; they used to stay "in flight" forever, with no access line, and their
 * upstream requests were never aborted.
 */
import t from 'tap';
import { connect } from 'node:net';
import { get } from 'node:http';
import { startUpstream } from '../../helpers/upstream.js';
import { startWeb } from '../../helpers/web-tier.js';

const H = 'Host: a\r\n';

function inFlight(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/-/metrics', headers: { Host: '127.0.0.1' }, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        const match = /^twotier_web_requests_in_flight (\d+)/m.exec(text);
        if (match === null) reject(new Error(`no in-flight gauge in ${res.statusCode ?? 0}: ${text.slice(0, 200)}`));
        // The scrape itself is in flight while it is answered.
        else resolve(Number(match[1]) - 1);
      });
    }).on('error', reject);
  });
}

/** Polls (bounded) until the gauge reads `wanted`; returns the last reading. */
async function gaugeSettles(port: number, wanted: number, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let value = await inFlight(port);
  while (value !== wanted && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    value = await inFlight(port);
  }
  return value;
}

/** Writes `count` pipelined requests in one go; destroys the socket on the first response byte or when `leave` resolves. */
function pipelineThenLeave(port: number, request: string, count: number, leave?: Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const bound = setTimeout(() => socket.destroy(), 10_000);
    socket.on('error', () => undefined);
    socket.once('data', () => socket.destroy());
    void leave?.then(() => socket.destroy());
    socket.on('close', () => {
      clearTimeout(bound);
      resolve();
    });
    socket.write(request.repeat(count));
  });
}

t.test('2,000 pipelined static requests, then the client leaves: gauge back to 0, one access line per request read', async (t) => {
  const { port, log, web } = await startWeb(t, {});
  let read = 0;
  web.server.prependListener('request', (req) => {
    if (req.url === '/static/site.css') read += 1;
  });
  t.equal(await inFlight(port), 0);
  await pipelineThenLeave(port, `GET /static/site.css HTTP/1.1\r\n${H}\r\n`, 2_000);
  t.equal(await gaugeSettles(port, 0), 0, 'in-flight gauge back to 0');
  const lines = log.accessLines().filter((line) => line['url'] === '/static/site.css');
  t.ok(read > 1, `${read} static requests were read`);
  t.equal(lines.length, read, 'one access line per request read');
  t.equal(new Set(lines.map((line) => line['reqId'])).size, lines.length, 'never two for one request');
});

t.test('pipelined proxied requests, then the client leaves: each one accounted for, the queued ones aborted upstream', async (t) => {
  let started = 0;
  let finished = 0;
  let cut = 0;
  let onStarted: () => void = () => undefined;
  const someStarted = new Promise<void>((resolve) => (onStarted = resolve));
  const upstreamGone: (() => void)[] = [];
  const upstream = await startUpstream(t, (req, res) => {
    started += 1;
    if (started === 5) onStarted();
    req.resume();
    // Never answered while the client is still there: the client leaves first.
    const timer = setTimeout(() => {
      finished += 1;
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '2' });
      res.end('ok');
    }, 5_000);
    res.on('close', () => {
      clearTimeout(timer);
      if (!res.writableFinished) cut += 1;
      upstreamGone.shift()?.();
    });
  });
  const { port, log, web } = await startWeb(t, { config: { proxy: { upstreams: [upstream.url], activeHealth: { intervalMs: 0 }, maxQueue: 10_000 } } });
  let read = 0;
  web.server.prependListener('request', (req) => {
    if (req.url?.startsWith('/api/') === true) read += 1;
  });
  await pipelineThenLeave(port, `GET /api/articles HTTP/1.1\r\n${H}\r\n`, 500, someStarted);
  t.equal(await gaugeSettles(port, 0), 0, 'in-flight gauge back to 0');
  const lines = log.accessLines().filter((line) => String(line['url']).startsWith('/api/'));
  t.equal(lines.length, read, `one access line for each of the ${read} proxied requests read`);
  t.equal(new Set(lines.map((line) => line['reqId'])).size, lines.length, 'never two for one request');
  t.equal(lines.filter((line) => line['aborted'] === true).length, read, 'each logged as aborted');
  // Upstream requests of an abandoned client are cut, not answered (bounded wait for the last cuts).
  const deadline = Date.now() + 5_000;
  while (cut < started && Date.now() < deadline) {
    await new Promise<void>((resolve) => {
      const poll = setTimeout(resolve, 250);
      upstreamGone.push(() => {
        clearTimeout(poll);
        resolve();
      });
    });
  }
  t.equal(finished, 0, 'the upstream answered none of them');
  t.equal(cut, started, `every upstream request started (${started}) was cut when the client left`);
});
