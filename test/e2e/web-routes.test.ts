/**
 * WEB_ROUTES on the real, built tiers (issue 18: "two app tiers with different APP_MODULEs and
 * ports, and the web tier routing prefixes to different upstream groups, each group with its
 * own health and pool"): the built-in articles app and examples/hello, each its own app tier,
 * behind one web tier. Each prefix reaches its app; the hello tier stopped makes /hello/ answer
 * 503 while the articles app keeps answering and the web tier stays ready; the status page and
 * metrics show each upstream's group. A bad WEB_ROUTES stops the web tier in one line.
 */
import t from 'tap';
import { fileURLToPath } from 'node:url';
import { send, startAppTier } from '../helpers/app-tier.js';
import { spawnEntry, WEB_MAIN, type JsonLine } from '../helpers/web-tier.js';

t.setTimeout(240_000);

const HELLO = fileURLToPath(new URL('../../examples/hello/app.js', import.meta.url));

t.test('two applications behind one web tier: a prefix each, health and pool each', async (t) => {
  const articles = await startAppTier(t, { workers: 1, readyTimeoutMs: 60_000 });
  const hello = await startAppTier(t, { workers: 1, env: { APP_MODULE: HELLO }, readyTimeoutMs: 60_000 });
  const web = spawnEntry(t, WEB_MAIN, {
    WEB_HOST: '127.0.0.1', WEB_PORT: '0', LOG_LEVEL: 'info',
    APP_UPSTREAMS: articles.url,
    WEB_ROUTES: `/hello/=${hello.url}`,
    WEB_PROXY_HEALTH_INTERVAL_MS: '200',
  });
  const listening = await web.waitForLine((line) => line['msg'] === 'listening', 60_000);
  const origin = `http://127.0.0.1:${listening['port'] as number}`;

  const greeting = await send(`${origin}/hello/anything?x=1`);
  t.same([greeting.status, greeting.text], [200, 'Hello world!\n'], '/hello/ reaches the hello app tier');
  const list = await send(`${origin}/api/articles/`);
  t.equal(list.status, 200, '/api/ reaches the articles app tier');
  t.ok(Array.isArray(list.json<{ articles?: unknown }>().articles) || Array.isArray(list.json()), 'a list of articles');
  t.equal((await send(`${origin}/articles/`)).status, 200, 'its pages too');
  t.match((await send(`${origin}/`)).text, /<html/i, 'static files from the web tier itself');

  const status = (await send(`${origin}/-/status.json`)).json<{ upstreams: { url: string; group: string; healthy: boolean }[] }>();
  t.same(status.upstreams.map(({ group, url, healthy }) => [group, url, healthy]), [['default', articles.url, true], ['/hello/', hello.url, true]], 'the status page lists each group\'s upstreams');
  t.match((await send(`${origin}/-/metrics`)).text, `twotier_web_upstream_up{upstream="${hello.url}",group="/hello/"} 1`);

  // The hello tier stops: its group's active checks take it out, and only its prefix notices.
  hello.child.kill('SIGTERM');
  await hello.exited();
  const down: JsonLine = await web.waitForLine((line) => line['msg'] === 'upstream state changed' && line['group'] === '/hello/' && line['to'] === 'down', 30_000);
  t.equal(down['upstream'], hello.url, 'the hello group\'s own health check saw it go');
  t.notOk(web.lines.some((line) => line['msg'] === 'upstream state changed' && line['upstream'] === articles.url), 'the articles group saw nothing change');
  const gone = await send(`${origin}/hello/`);
  t.equal(gone.status, 503, '/hello/ → 503 (no healthy upstream in its group)');
  t.ok(gone.headers['retry-after'] !== undefined, 'with Retry-After');
  t.equal((await send(`${origin}/api/articles/`)).status, 200, 'the articles app still answers');
  t.equal((await send(`${origin}/readyz`)).status, 200, 'the web tier stays ready: one app down does not pull it from a load balancer');
  const after = (await send(`${origin}/-/status.json`)).json<{ upstreams: { group: string; healthy: boolean }[] }>();
  t.same(after.upstreams.map(({ group, healthy }) => [group, healthy]), [['default', true], ['/hello/', false]], 'health per group on the status page');
  t.match((await send(`${origin}/-/metrics`)).text, `twotier_web_upstream_up{upstream="${hello.url}",group="/hello/"} 0`);
});

t.test('a bad WEB_ROUTES stops the web tier with one line naming it', async (t) => {
  const web = spawnEntry(t, WEB_MAIN, { WEB_HOST: '127.0.0.1', WEB_PORT: '0', WEB_ROUTES: '/hello/=http://127.0.0.1:3001;/hello/=http://127.0.0.1:3002' });
  const { code } = await web.exited;
  t.equal(code, 1, 'exit 1');
  const lines = web.stderr().trim().split('\n');
  t.equal(lines.length, 1, `one line: ${web.stderr()}`);
  t.match(lines[0], /^twotier web: WEB_ROUTES .*route "\/hello\/" is given twice/);
});
