/**
 * The two engines (plain: node's http.request, the default since issue 8; http-proxy) share every
 * pass but the dispatch: these check, for each, the behaviours that dispatch touches. The whole
 * proxy suite runs on the default engine and also passed with `engine: 'http-proxy'` as the
 * default when the default changed.
 */
import t from 'tap';
import http from 'node:http';
import { loadConfig } from '../../../web-tier/config.js';
import { PROXY_DEFAULTS } from '../../../web-tier/proxy/config.js';
import { echo, echoed, refusedUrl, request, startFront, startUpstream } from './helpers.js';

for (const engine of ['plain', 'http-proxy'] as const) t.test(`${engine} engine: target byte-identical, edge headers, body, response headers`, async (t) => {
  const upstream = await startUpstream(t, echo);
  const front = await startFront(t, { upstreams: [`${upstream.url}/base`], engine });
  const reply = await request(front.port, { method: 'POST', path: '/api//a%2F..\\b?q="x"', body: 'hello', headers: { 'x-forwarded-for': '6.6.6.6', connection: 'x-drop', 'x-drop': '1' } });
  t.equal(reply.status, 200);
  const seen = echoed(reply);
  t.equal(seen.url, '/base/api//a%2F..\\b?q="x"');
  t.equal(seen.body, 'hello');
  t.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
  t.equal(seen.headers['x-drop'], undefined);
  t.match(seen.headers.via, /^1\.1 twotier-web-[0-9a-f]{16}$/, 'this hop\'s Via element, with the deployment\'s token (loop-guard.ts)');
  t.equal(reply.headers['x-served-by'], 'app');
  t.equal(reply.headers['x-request-id'], front.contexts[0]?.requestId);
  t.equal(upstream.connections(), 1);
  t.equal((await request(front.port)).status, 200);
  t.equal(upstream.connections(), 1, 'the keep-alive agent is used');
});

for (const engine of ['plain', 'http-proxy'] as const) t.test(`${engine} engine: refused POST retried elsewhere; response timeout 504; chunked body past the limit 413`, { timeout: 5000 }, async (t) => {
  const live = await startUpstream(t, echo);
  const front = await startFront(t, { upstreams: [await refusedUrl(), live.url], engine });
  const reply = await request(front.port, { method: 'POST', body: 'again' });
  t.same([reply.status, echoed(reply).body], [200, 'again']);

  const stalled = await startUpstream(t, () => undefined);
  const slow = await startFront(t, { upstreams: [stalled.url], engine, responseTimeoutMs: 100 });
  t.equal((await request(slow.port)).status, 504);

  const small = await startFront(t, { upstreams: [live.url], engine, maxBodyBytes: 4 });
  const req = http.request({ host: '127.0.0.1', port: small.port, method: 'POST', path: '/api/x', agent: false });
  req.write('12345');
  req.end();
  const [res] = (await new Promise((resolve) => req.once('response', (r) => resolve([r])))) as [http.IncomingMessage];
  t.equal(res.statusCode, 413);
  res.resume();
});

t.test('plain is the default engine; an unknown engine is refused where config is validated (once)', async (t) => {
  t.equal(PROXY_DEFAULTS.engine, 'plain');
  t.throws(() => loadConfig(undefined, { WEB_PROXY_ENGINE: 'fast' }), { code: 'CONFIG_INVALID', key: 'WEB_PROXY_ENGINE', message: /engine|http-proxy or plain/ });
});
