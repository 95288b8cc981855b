/**
 * WEB_ROUTES (issue 18): parsing and its errors (each naming the setting and the route), the
 * longest-prefix match, and the web tier with two stub upstream groups in-process: each prefix
 * reaches its group, one group down leaves the other answering, the status data and metrics
 * name the group, a reload swaps the groups. Fast: stubs, no app tier (test/e2e/web-routes.test.ts
 * runs the real tiers).
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigError } from '../../../common/config.js';
import { planReload } from '../../../web-tier/config-reload.js';
import { loadConfig } from '../../../web-tier/config.js';
import { appPrefixes, matchRoute } from '../../../web-tier/proxy/routes.js';
import { closeServer, startUpstream, type Upstream } from '../../helpers/upstream.js';
import { startWeb } from '../../helpers/web-tier.js';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(undefined, env);
  } catch (error) {
    return error as ConfigError;
  }
  throw new Error(`no error for ${JSON.stringify(env)}`);
}

t.test('WEB_ROUTES: routes separated by ";", each with its upstreams as APP_UPSTREAMS writes them', async (t) => {
  t.same(loadConfig(undefined, {}).routes, [], 'none by default');
  const config = loadConfig(undefined, { WEB_ROUTES: ' /hello/=http://127.0.0.1:3001 ; /shop/=http://127.0.0.1:3002, http://127.0.0.1:3003#weight=2 ;' });
  t.same(config.routes, [
    { prefix: '/hello/', upstreams: ['http://127.0.0.1:3001'] },
    { prefix: '/shop/', upstreams: ['http://127.0.0.1:3002', 'http://127.0.0.1:3003#weight=2'] },
  ]);
  t.ok(Object.isFrozen(config.routes) && Object.isFrozen(config.routes[0]), 'frozen');
  t.same(loadConfig(undefined, { WEB_ROUTES: '' }).routes, [], 'an empty value is unset');
});

t.test('routes in a config file: a list of { prefix, upstreams }', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-routes-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'web.json');
  writeFileSync(file, JSON.stringify({ routes: [{ prefix: '/hello/', upstreams: ['http://127.0.0.1:3001'] }] }));
  t.same(loadConfig(file, {}).routes, [{ prefix: '/hello/', upstreams: ['http://127.0.0.1:3001'] }]);
  writeFileSync(file, JSON.stringify({ routes: [{ prefix: '/hello/', upstream: 'http://127.0.0.1:3001' }] }));
  t.throws(() => loadConfig(file, {}), { key: `${file}: "routes"`, message: /routes\[0\]/ }, 'an unknown key in a route fails');
});

t.test('a bad route fails start-up naming WEB_ROUTES and the route', async (t) => {
  const cases: readonly [string, string, RegExp][] = [
    ['duplicate prefix', '/hello/=http://127.0.0.1:3001;/hello/=http://127.0.0.1:3002', /route "\/hello\/" is given twice/],
    ['empty group', '/hello/=', /at least one upstream/],
    ['empty group, commas only', '/hello/= , ', /at least one upstream/],
    ['no "="', '/hello/ http://127.0.0.1:3001', /must be written PREFIX=URL/],
    ['bad URL', '/hello/=ftp://127.0.0.1:3001', /base URL such as/],
    ['URL with a query', '/hello/=http://127.0.0.1:3001/?x=1', /base URL such as/],
    ['"/" alone', '/=http://127.0.0.1:3001', /path prefix like "\/shop\/"/],
    ['no trailing slash', '/hello=http://127.0.0.1:3001', /path prefix like "\/shop\/"/],
    ['under the operator prefix', '/-/app/=http://127.0.0.1:3001', /lies under \/-\/.*never be reached/],
    ['the CGI prefix', '/cgi-bin/=http://127.0.0.1:3001', /lies under \/cgi-bin\//],
    ['a dot-segment', '/a/../b/=http://127.0.0.1:3001', /dot-segment/],
  ];
  for (const [name, value, message] of cases) {
    const error = configError({ WEB_ROUTES: value });
    t.equal(error.code, 'CONFIG_INVALID', name);
    t.equal(error.key, 'WEB_ROUTES', `${name}: names WEB_ROUTES`);
    t.match(error.message, message, `${name}: ${error.message}`);
  }
  const embedded = configError({ WEB_ROUTES: '/hello/=http://127.0.0.1:3001', WEB_DYNAMIC: 'embedded' });
  t.equal(embedded.key, 'WEB_ROUTES');
  t.match(embedded.message, /needs WEB_DYNAMIC=proxy/);
});

t.test('the longest matching prefix wins; "/shop" matches "/shop/"; other paths go to the default group', async (t) => {
  const routes = [{ prefix: '/api/' }, { prefix: '/api/v2/' }, { prefix: '/shop/' }];
  t.equal(matchRoute(routes, '/api/v2/items')?.prefix, '/api/v2/');
  t.equal(matchRoute(routes, '/api/v2')?.prefix, '/api/v2/');
  t.equal(matchRoute(routes, '/api/v1/items')?.prefix, '/api/');
  t.equal(matchRoute(routes, '/shop')?.prefix, '/shop/');
  t.equal(matchRoute(routes, '/shopping/'), undefined, 'a prefix matches whole segments');
  t.equal(matchRoute(routes, '/articles/'), undefined);
  t.same(appPrefixes(['/api/', '/articles/'], [{ prefix: '/api/v2/', upstreams: [] }, { prefix: '/api/', upstreams: [] }, { prefix: '/hello/', upstreams: [] }]), ['/api/', '/articles/', '/api/v2/', '/hello/']);
});

t.test('a reload takes the new routes whole', async (t) => {
  const before = loadConfig(undefined, { WEB_ROUTES: '/hello/=http://127.0.0.1:3001' });
  const after = loadConfig(undefined, { WEB_ROUTES: '/hello/=http://127.0.0.1:3002;/shop/=http://127.0.0.1:3003' });
  const plan = planReload(before, after);
  t.same(plan.config.routes, after.routes);
  t.ok(Array.isArray(plan.config.routes), 'still a list');
  t.same(plan.applied, ['routes']);
  t.same(plan.needRestart, []);
});

/** A stub app that names itself and echoes the path it was sent. */
async function stubApp(t: Parameters<typeof startUpstream>[0], name: string): Promise<Upstream> {
  return startUpstream(t, (req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ app: name, path: req.url }));
  });
}

async function get(origin: string, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`${origin}${path}`, { signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: await response.text() };
}

t.test('two groups behind one web tier: each prefix its own upstreams, pool and health', async (t) => {
  const articles = await stubApp(t, 'articles');
  const hello = await stubApp(t, 'hello');
  const v2 = await stubApp(t, 'v2');
  const { origin, web, config } = await startWeb(t, {
    env: { APP_UPSTREAMS: articles.url, WEB_ROUTES: `/hello/=${hello.url};/api/v2/=${v2.url}`, WEB_PROXY_HEALTH_INTERVAL_MS: '0', LOG_LEVEL: 'silent' },
  });
  t.same(JSON.parse((await get(origin, '/api/items?x=1')).body), { app: 'articles', path: '/api/items?x=1' }, 'a dynamic prefix no route claims: the default group');
  t.same(JSON.parse((await get(origin, '/hello/there')).body), { app: 'hello', path: '/hello/there' }, 'the path reaches the app unchanged');
  t.same(JSON.parse((await get(origin, '/hello')).body), { app: 'hello', path: '/hello' });
  t.same(JSON.parse((await get(origin, '/api/v2/items')).body), { app: 'v2', path: '/api/v2/items' }, 'longest prefix');
  t.equal((await get(origin, '/index.html')).status, 200, 'static files as before');

  const status = JSON.parse((await get(origin, '/-/status.json')).body) as { upstreams: { url: string; group: string }[] };
  t.same(status.upstreams.map(({ url, group }) => [group, url]), [['default', articles.url], ['/hello/', hello.url], ['/api/v2/', v2.url]], 'the status data names each upstream\'s group');
  const metrics = (await get(origin, '/-/metrics')).body;
  t.match(metrics, new RegExp(`twotier_web_upstream_up\\{upstream="${hello.url}",group="/hello/"\\} 1`));
  t.match(metrics, new RegExp(`twotier_web_upstream_up\\{upstream="${articles.url}",group="default"\\} 1`));

  // The hello group's only upstream goes away: its prefix fails, the others do not notice.
  await closeServer(hello.server);
  let helloStatus = 200;
  for (let attempt = 0; attempt < 10 && helloStatus !== 503; attempt += 1) helloStatus = (await get(origin, '/hello/')).status;
  t.equal(helloStatus, 503, 'the hello group, its upstream taken out by passive health: 503');
  t.equal((await get(origin, '/api/items')).status, 200, 'the default group still answers');
  t.equal((await get(origin, '/api/v2/x')).status, 200, 'and the other route');
  t.equal((await get(origin, '/readyz')).status, 200, 'the web tier stays ready while any group can answer');
  t.match((await get(origin, '/-/metrics')).body, new RegExp(`twotier_web_upstream_up\\{upstream="${hello.url}",group="/hello/"\\} 0`));

  // A reload points the route at a live app: a new group takes the prefix.
  const again = await stubApp(t, 'hello-again');
  const next = loadConfig(undefined, { APP_UPSTREAMS: articles.url, WEB_ROUTES: `/hello/=${again.url}`, WEB_PROXY_HEALTH_INTERVAL_MS: '0', WEB_PORT: '0' });
  await web.reload(planReload(config, next).config);
  t.same(JSON.parse((await get(origin, '/hello/')).body), { app: 'hello-again', path: '/hello/' }, 'after a reload: the new group');
  t.equal((await get(origin, '/api/v2/x')).status, 200, 'a route dropped by the reload falls back to the default group');
  t.equal(JSON.parse((await get(origin, '/api/v2/x')).body).app, 'articles');
});

t.test('without WEB_ROUTES: one group, no group label, as before', async (t) => {
  const articles = await stubApp(t, 'articles');
  const { origin } = await startWeb(t, { env: { APP_UPSTREAMS: articles.url, WEB_PROXY_HEALTH_INTERVAL_MS: '0', LOG_LEVEL: 'silent' } });
  t.equal(JSON.parse((await get(origin, '/api/x')).body).app, 'articles');
  t.equal((await get(origin, '/hello/')).status, 404, 'an unrouted path is static (404)');
  const status = JSON.parse((await get(origin, '/-/status.json')).body) as { upstreams: Record<string, unknown>[] };
  t.notOk('group' in (status.upstreams[0] ?? {}), 'no group field');
  t.match((await get(origin, '/-/metrics')).body, new RegExp(`twotier_web_upstream_up\\{upstream="${articles.url}"\\} 1`));
});
