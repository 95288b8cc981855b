/**
 * Fault 4: one upstream accepts requests and never answers (its /readyz still says ready, so only
 * the request path stalls). The web tier answers 504 once WEB_PROXY_RESPONSE_TIMEOUT_MS has
 * passed, counts the timeout as a passive-health failure, and the real app upstream next to it
 * keeps answering 200 throughout.
 */
import t from 'tap';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startAppTier } from '../helpers/app-tier.js';
import { describeLoad, fetchOnce, runLoad, startWebTier } from '../helpers/load.js';

const RESPONSE_TIMEOUT_MS = 700;

t.test('a stalling upstream → 504 after the response timeout; the other upstream unaffected', async (t) => {
  const stalled: IncomingMessage[] = [];
  const stall = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/readyz') {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '2' });
      res.end('ok');
      return;
    }
    stalled.push(req); // never answered
  });
  stall.listen(0, '127.0.0.1');
  await once(stall, 'listening');
  t.teardown(() => {
    stall.closeAllConnections();
    stall.close();
  });
  const stallUrl = `http://127.0.0.1:${(stall.address() as AddressInfo).port}`;
  const app = await startAppTier(t, { workers: 1 });
  const web = await startWebTier(t, {
    APP_UPSTREAMS: `${stallUrl},${app.url}`,
    WEB_PROXY_RESPONSE_TIMEOUT_MS: String(RESPONSE_TIMEOUT_MS),
    WEB_PROXY_MAX_FAILS: '3',
  });

  // Sequential requests on fresh connections: round-robin sends every other one to the staller
  // until passive health takes it out.
  const outcomes: Array<{ status: number; ms: number; servedBy: unknown }> = [];
  for (let index = 0; index < 12; index += 1) {
    const started = Date.now();
    const answer = await fetchOnce(`${web.url}/api/articles/`, { headers: { Accept: 'application/json' } });
    outcomes.push({ status: answer.status, ms: Date.now() - started, servedBy: answer.headers['x-served-by'] });
  }
  t.comment(`outcomes: ${outcomes.map((o) => `${o.status}/${o.ms}ms`).join(' ')}`);
  const timedOut = outcomes.filter((o) => o.status === 504);
  t.ok(timedOut.length >= 1, 'the stalled upstream produced 504s');
  t.ok(timedOut.length <= 3, 'at most max_fails of them before it is out of rotation');
  for (const o of timedOut) {
    t.equal(o.servedBy, 'web', 'the 504 is the web tier\'s');
    // Not a speed test: only that the configured timeout, not a default 30 s, decided it.
    t.ok(o.ms >= RESPONSE_TIMEOUT_MS - 50 && o.ms < RESPONSE_TIMEOUT_MS + 5_000, `504 after ${o.ms} ms (timeout ${RESPONSE_TIMEOUT_MS})`);
  }
  t.same(outcomes.filter((o) => o.status !== 504).map((o) => o.status), Array(12 - timedOut.length).fill(200), 'every other request answered 200 by the app');
  t.ok(stalled.length >= timedOut.length, 'the stalled requests did reach the staller');

  const line = web.entry.lines.find((l) => l['msg'] === 'request' && l['status'] === 504);
  t.match(line, { servedBy: 'web' }, 'the access line shows the web-written 504');
  const errorLine = web.entry.lines.find((l) => l['code'] === 'WEB_ERR_UPSTREAM_TIMEOUT');
  t.comment(`log: ${JSON.stringify(errorLine ?? line)}`);

  // With the staller out of rotation, a load through the web tier is all 200.
  const load = await runLoad({ url: `${web.url}/api/articles/`, amount: 500, connections: 4 });
  t.equal(load.errors + load.non2xx, 0, `unaffected: ${describeLoad(load)}`);
});
