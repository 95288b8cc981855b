/**
 * The proxy-loop guard (loop-guard.ts): a web tier whose upstream leads back to itself (its own
 * port in APP_UPSTREAMS or a WEB_ROUTES group, a DNS name that resolves to it, a chain through
 * another proxy) sees its own Via element come back and answers 508 Loop Detected (RFC 5842
 * §7.2) instead of proxying again, once per looped request. Real web tiers on port 0: the loop
 * is made by a reload that points the upstream at the tier's own port (no DNS), or by two
 * tiers pointing at each other. Without the guard each request proxies to itself until the
 * per-upstream socket cap and the queue give out (503 after the queue timeout, scores of hops).
 */
import t from 'tap';
import http from 'node:http';
import { once } from 'node:events';
import { createLoopGuard, createInstanceToken } from '../../../web-tier/proxy/loop-guard.js';
import { startWeb, withOverrides, type StartedWeb, type Teardown } from '../../helpers/web-tier.js';
import { echo, refusedUrl, startUpstream } from './helpers.js';
import { connect } from './upgrade-helpers.js';

interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** One request, bounded: a loop the guard misses shows up as a timeout here, not a hung test. */
async function get(port: number, path: string, headers: http.OutgoingHttpHeaders = {}, timeoutMs = 8_000): Promise<Reply> {
  const req = http.request({ host: '127.0.0.1', port, path, headers: { accept: 'application/json', ...headers }, agent: false, signal: AbortSignal.timeout(timeoutMs) });
  req.end();
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') };
}

/** A web tier in proxy mode with an upstream nobody listens on (to be pointed elsewhere by a reload), no active checks. */
async function startTier(t: Teardown, env: Record<string, string> = {}): Promise<StartedWeb> {
  return startWeb(t, { env: { APP_UPSTREAMS: await refusedUrl(), WEB_PROXY_HEALTH_INTERVAL_MS: '0', ...env } });
}

/** Points a running tier's APP_UPSTREAMS at `upstreams` (a reload, as SIGHUP does). */
async function pointAt(tier: StartedWeb, upstreams: readonly string[]): Promise<void> {
  await tier.web.reload(withOverrides(tier.config, { proxy: { upstreams } }));
}

const accessLinesFor = (tier: StartedWeb, url: string): Record<string, unknown>[] => tier.log.accessLines().filter((line) => line['url'] === url);
const loopWarnings = (tier: StartedWeb): Record<string, unknown>[] => tier.log.lines().filter((line) => line['code'] === 'WEB_ERR_LOOP_DETECTED' && line['level'] === 40);

t.test('an upstream that is the web tier itself: 508 at the second pass, one warning naming APP_UPSTREAMS, no token in the answer', { timeout: 20_000 }, async (t) => {
  const tier = await startTier(t);
  const self = `http://127.0.0.1:${tier.port}`;
  await pointAt(tier, [self]);

  const reply = await get(tier.port, '/api/echo?loop=1');
  t.equal(reply.status, 508, 'Loop Detected (RFC 5842 §7.2)');
  t.match(JSON.parse(reply.body), { error: { status: 508, code: 'WEB_ERR_LOOP_DETECTED' } });
  t.notMatch(JSON.stringify(reply.headers) + reply.body, /twotier-web/, 'neither the Via nor its token comes back to the client');
  const lines = await tier.log.waitForAccessLines(2);
  t.same(lines.filter((line) => line['url'] === '/api/echo?loop=1').map((line) => line['status']), [508, 508], 'two passes in all: the client\'s request and its one looped copy');

  const warnings = loopWarnings(tier);
  t.equal(warnings.length, 1, 'one warning line');
  t.match(warnings[0], { setting: 'APP_UPSTREAMS', upstreams: [self] });
  t.match(String(warnings[0]?.['msg']), /loop/i);
  t.notMatch(JSON.stringify(warnings[0]), /twotier-web-/, 'the token is not logged either');
});

t.test('a looping tier stays healthy under a burst of looped requests and serves static files meanwhile', { timeout: 30_000 }, async (t) => {
  const tier = await startTier(t);
  await pointAt(tier, [`http://127.0.0.1:${tier.port}`]);

  const burst = Array.from({ length: 40 }, (_, index) => get(tier.port, `/api/echo?n=${index}`));
  const staticMeanwhile = get(tier.port, '/', { accept: 'text/html' });
  const liveMeanwhile = get(tier.port, '/healthz');
  const replies = await Promise.all(burst);
  t.same([...new Set(replies.map((reply) => reply.status))], [508], 'every looped request: 508');
  t.equal((await staticMeanwhile).status, 200, 'static file served meanwhile');
  t.equal((await liveMeanwhile).status, 200, '/healthz meanwhile');
  await tier.log.waitForAccessLines(82);
  const looped = tier.log.accessLines().filter((line) => String(line['url']).startsWith('/api/echo?n='));
  t.equal(looped.length, 80, 'each request passed twice, never more');
  t.ok(loopWarnings(tier).length >= 1 && loopWarnings(tier).length <= 2, `warnings bounded under a burst (${loopWarnings(tier).length}), not one per request`);

  t.equal((await get(tier.port, '/', { accept: 'text/html' })).status, 200, 'and after');
  const fixed = await startUpstream(t, echo);
  await pointAt(tier, [fixed.url]);
  t.equal((await get(tier.port, '/api/echo')).status, 200, 'a reload to a real upstream serves again');
});

t.test('a WebSocket upgrade that loops: 508 for the handshake', { timeout: 20_000 }, async (t) => {
  const tier = await startTier(t);
  await pointAt(tier, [`http://127.0.0.1:${tier.port}`]);
  const handshake = await connect(t, tier.port, '/api/live');
  t.equal(handshake.kind, 'refused');
  if (handshake.kind !== 'refused') return;
  t.equal(handshake.status, 508);
  t.notMatch(JSON.stringify(handshake.headers) + handshake.body, /twotier-web/);
  await tier.log.waitForAccessLines(2);
  t.equal(accessLinesFor(tier, '/api/live').length, 2, 'two passes');
  t.match(loopWarnings(tier)[0], { setting: 'APP_UPSTREAMS' });
});

t.test('a WEB_ROUTES group that leads back: 508, the warning names WEB_ROUTES and the route', { timeout: 20_000 }, async (t) => {
  const app = await startUpstream(t, echo);
  // WEB_ROUTES is read at start; the group is pointed at the tier by a reload of the routes.
  const tier = await startWeb(t, { env: { APP_UPSTREAMS: app.url, WEB_ROUTES: `/shop/=${await refusedUrl()}`, WEB_PROXY_HEALTH_INTERVAL_MS: '0' } });
  await tier.web.reload(withOverrides(tier.config, { routes: [{ prefix: '/shop/', upstreams: [`http://127.0.0.1:${tier.port}`] }] }));
  t.equal((await get(tier.port, '/shop/cart')).status, 508);
  t.equal((await get(tier.port, '/api/echo')).status, 200, 'the default group is not affected');
  t.match(loopWarnings(tier)[0], { setting: 'WEB_ROUTES', route: '/shop/' });
});

t.test('two distinct web tiers in a chain (A → B → app): 200, each adds its own Via element', { timeout: 20_000 }, async (t) => {
  const app = await startUpstream(t, echo);
  const b = await startTier(t);
  await pointAt(b, [app.url]);
  const a = await startTier(t);
  await pointAt(a, [`http://127.0.0.1:${b.port}`]);

  const reply = await get(a.port, '/api/echo', { via: '1.0 corp-proxy' });
  t.equal(reply.status, 200);
  const via = String((JSON.parse(reply.body) as { headers: Record<string, string> }).headers['via']);
  const elements = via.split(',').map((element) => element.trim());
  t.equal(elements.length, 3, via);
  t.equal(elements[0], '1.0 corp-proxy', 'the client\'s element kept, first');
  t.match(elements[1], /^1\.1 twotier-web-[0-9a-f]{16}$/, 'A');
  t.match(elements[2], /^1\.1 twotier-web-[0-9a-f]{16}$/, 'B');
  t.not(elements[1], elements[2], 'each deployment its own token');
});

t.test('the token is the deployment\'s: the same in every route group and after a reload', { timeout: 20_000 }, async (t) => {
  // A request taken by the old proxy just before a reload may come back to the new one: both must know it.
  const first = await startUpstream(t, echo);
  const shop = await startUpstream(t, echo);
  const tier = await startWeb(t, { env: { APP_UPSTREAMS: first.url, WEB_ROUTES: `/shop/=${shop.url}`, WEB_PROXY_HEALTH_INTERVAL_MS: '0' } });
  const viaOf = async (path: string): Promise<string> => String((JSON.parse((await get(tier.port, path)).body) as { headers: Record<string, string> }).headers['via']);
  const own = await viaOf('/api/echo');
  t.match(own, /^1\.1 twotier-web-[0-9a-f]{16}$/);
  t.equal(await viaOf('/shop/echo'), own, 'the route group\'s proxy: the same element');
  const second = await startUpstream(t, echo);
  await pointAt(tier, [second.url]);
  t.equal(await viaOf('/api/echo'), own, 'the proxy a reload built: the same element');
  t.equal(second.connections(), 1, 'answered by the new upstream');
});

t.test('two tiers pointing at each other (A → B → A): 508 from A, three passes in all', { timeout: 20_000 }, async (t) => {
  const a = await startTier(t);
  const b = await startTier(t);
  await pointAt(a, [`http://127.0.0.1:${b.port}`]);
  await pointAt(b, [`http://127.0.0.1:${a.port}`]);
  t.equal((await get(a.port, '/api/echo')).status, 508);
  await a.log.waitForAccessLines(2);
  await b.log.waitForAccessLines(1);
  t.equal(accessLinesFor(a, '/api/echo').length, 2, 'A: the request and its copy back from B');
  t.equal(accessLinesFor(b, '/api/echo').length, 1, 'B: once');
  t.equal(loopWarnings(a).length, 1, 'A warns');
  t.equal(loopWarnings(b).length, 0, 'B saw only A\'s token, not its own');
});

t.test('hostile Via values from a client: a guessed token, a huge list, the real token', { timeout: 20_000 }, async (t) => {
  const app = await startUpstream(t, echo);
  const tier = await startTier(t);
  await pointAt(tier, [app.url]);
  const seenVia = (reply: Reply): string => String((JSON.parse(reply.body) as { headers: Record<string, string> }).headers['via']);

  const own = seenVia(await get(tier.port, '/api/echo'));
  t.match(own, /^1\.1 twotier-web-[0-9a-f]{16}$/);

  const guessed = await get(tier.port, '/api/echo', { via: `1.1 twotier-web-${createInstanceToken()}` });
  t.equal(guessed.status, 200, 'another token: forwarded as any Via');

  // Close to the 16 KiB header limit: commas, empty elements, nested comments.
  const huge = `${','.repeat(8_000)}1.1 a (b (c (d))), ${'1.1 x, '.repeat(1_000)}`;
  const started = process.hrtime.bigint();
  const hugeReply = await get(tier.port, '/api/echo', { via: huge });
  t.equal(hugeReply.status, 200);
  t.ok(seenVia(hugeReply).endsWith(`, ${own}`), 'this hop\'s element appended after the client\'s');
  t.ok(Number(process.hrtime.bigint() - started) / 1e6 < 2_000, 'answered promptly');

  const forged = await get(tier.port, '/api/echo', { via: `1.0 somewhere, ${own}` });
  t.equal(forged.status, 508, 'a client that sends this tier\'s own element fails its own request');
  t.equal((await get(tier.port, '/api/echo')).status, 200, 'and no one else\'s');
});

t.test('createLoopGuard: this deployment\'s element found wherever it stands, nothing else', async (t) => {
  const token = createInstanceToken();
  t.match(token, /^[0-9a-f]{16}$/);
  t.not(createInstanceToken(), token, 'random per deployment');
  const guard = createLoopGuard(token);
  t.equal(guard.via, `1.1 twotier-web-${token}`);
  t.equal(guard.looped(undefined), false);
  t.equal(guard.looped(''), false);
  t.equal(guard.looped('1.1 twotier-web'), false, 'the token-less element (embedded, CGI, an older tier)');
  t.equal(guard.looped(`1.1 twotier-web-${createInstanceToken()}`), false, 'another deployment');
  t.equal(guard.looped(guard.via), true);
  t.equal(guard.looped(`1.0 a, ${guard.via}, 1.1 b`), true, 'in the middle');
  t.equal(guard.looped(`1.0 a,${guard.via}`), true, 'without a space');
  t.equal(guard.looped(`HTTP/1.1 twotier-web-${token}`), true, 'with a protocol name');
  t.equal(guard.looped(`1.1 twotier-web-${token}0`), false, 'a longer pseudonym is not this one');
  t.equal(guard.looped(`1.1 xtwotier-web-${token}`), false, 'nor one that only ends with it');
  t.equal(guard.looped(','.repeat(16_000)), false);
});
