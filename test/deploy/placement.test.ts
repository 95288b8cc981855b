import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENV_BINDINGS, loadConfig as loadAppConfig } from '../../app-tier/config.js';
import { ENV_VARS, loadConfig as loadWebConfig } from '../../web-tier/config.js';
import { formatBanner } from '../../deploy/banner.mjs';
import { parseStartArgs, placements } from '../../deploy/start-options.mjs';

function tempFile(t: Test, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-placement-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'placement.json');
  writeFileSync(file, text);
  return file;
}

t.test('both placements have one shape and each tier accepts its env', async (t) => {
  const single = placements.loadPlacement('single-box');
  const multi = placements.loadPlacement('multi-box');
  t.same(Object.keys(multi.web).sort(), Object.keys(single.web).sort(), 'same web keys');
  t.same(Object.keys(multi.app).sort(), Object.keys(single.app).sort(), 'same app keys');
  for (const [name, placement] of [['single-box', single], ['multi-box', multi]] as const) {
    const appEnv = placements.placementEnv(placement, 'app');
    const webEnv = placements.placementEnv(placement, 'web');
    for (const key of Object.keys(appEnv)) t.ok(key in ENV_BINDINGS, `${name}: app env ${key} is read by the app tier`);
    for (const key of Object.keys(webEnv)) t.ok(ENV_VARS.includes(key), `${name}: web env ${key} is read by the web tier`);
    const app = loadAppConfig(undefined, appEnv);
    const web = loadWebConfig(undefined, webEnv);
    t.equal(app.host, placement.app['host']);
    t.equal(app.databaseUrl, placement.app['databaseUrl']);
    t.same(web.proxy.upstreams, placement.web['upstreams']);
    t.equal(web.app.databaseUrl, app.databaseUrl, 'the web tier (CGI, embedded) names the same database');
  }
  t.match(single.app, { host: '127.0.0.1', databaseUrl: /^sqlite:/ });
  t.match(multi.app, { host: '0.0.0.0', databaseUrl: /^postgres:\/\// });
  t.ok((multi.web['upstreams'] as string[]).length >= 2, 'multi-box has several app boxes');
  for (const url of [...(multi.web['upstreams'] as string[]), multi.app['databaseUrl'] as string]) {
    t.match(new URL(url).hostname, /^198\.1[89]\./, `${url} is in the benchmarking range 198.18.0.0/15`);
  }
});

t.test('placement files: errors name the problem', async (t) => {
  t.throws(() => placements.loadPlacement('/nonexistent/p.json'), { code: 'PLACEMENT_INVALID', message: /cannot read placement .*ENOENT/ });
  t.throws(() => placements.loadPlacement(tempFile(t, '{')), { message: /not valid JSON/ });
  t.throws(() => placements.loadPlacement(tempFile(t, '{"web":{},"app":{},"extra":1}')), { message: /unknown key "extra"/ });
  t.throws(() => placements.loadPlacement(tempFile(t, '{"web":{"hots":"x"},"app":{}}')), { message: /unknown key "web.hots"/ });
  t.throws(() => placements.loadPlacement(tempFile(t, '{"web":{"upstreams":[1]},"app":{}}')), { message: /"web.upstreams" must be/ });
  t.throws(() => placements.loadPlacement(tempFile(t, '{"web":{}}')), { message: /"app" must be an object/ });
});

t.test('multi-box on SQLite is refused: each box would have its own database', async (t) => {
  const twoBoxes = '{"web":{"upstreams":["http://198.18.0.11:3000","http://198.18.0.12:3000"]},"app":{"databaseUrl":"sqlite:./data/twotier.db"}}';
  t.throws(() => placements.loadPlacement(tempFile(t, twoBoxes)), { message: /each box would have its own database; use postgres:\/\// });
  const oneRemote = '{"web":{"upstreams":["http://198.18.0.11:3000"]},"app":{}}';
  t.throws(() => placements.loadPlacement(tempFile(t, oneRemote)), { message: /own database/ }, 'the default database is SQLite too');
  t.ok(placements.loadPlacement(tempFile(t, '{"web":{"upstreams":["http://127.0.0.1:3000","http://127.0.0.1:3001"]},"app":{}}')), 'several app tiers on this box may share a file');
});

t.test('a placement may route prefixes to more app tiers (WEB_ROUTES)', async (t) => {
  const placement = placements.loadPlacement(tempFile(t, '{"web":{"upstreams":["http://127.0.0.1:3000"],"routes":["/hello/=http://127.0.0.1:3001","/shop/=http://127.0.0.1:3002,http://127.0.0.1:3003"]},"app":{}}'));
  const env = placements.placementEnv(placement, 'web');
  t.equal(env['WEB_ROUTES'], '/hello/=http://127.0.0.1:3001;/shop/=http://127.0.0.1:3002,http://127.0.0.1:3003');
  t.same(loadWebConfig(undefined, env).routes, [
    { prefix: '/hello/', upstreams: ['http://127.0.0.1:3001'] },
    { prefix: '/shop/', upstreams: ['http://127.0.0.1:3002', 'http://127.0.0.1:3003'] },
  ]);
});

t.test('npm start arguments', async (t) => {
  t.equal(parseStartArgs([], {}).placementName, 'single-box');
  t.same(parseStartArgs([], {}).tiers, ['app', 'web']);
  t.throws(() => parseStartArgs(['--bogus'], {}), { code: 'START_USAGE', message: /unknown argument "--bogus"; usage: npm start/ });
  t.throws(() => parseStartArgs(['--placement'], {}), { message: /--placement needs a value/ });
  t.throws(() => parseStartArgs(['--placement', 'two-box'], {}), { message: /unknown placement "two-box"/ });
  t.throws(() => parseStartArgs(['--placement', 'single-box', '--config', 'x.json'], {}), { message: /not both/ });
  t.throws(() => parseStartArgs(['--only', 'db'], {}), { message: /--only must be web or app/ });
  t.throws(() => parseStartArgs(['--placement', 'multi-box'], {}), { message: /run "--only web" on the web box and "--only app" on each app box/ });
  const multiWeb = parseStartArgs(['--placement=multi-box', '--only', 'web'], { WEB_PORT: '0' });
  t.same(multiWeb.tiers, ['web']);
  t.equal(multiWeb.env.web['APP_UPSTREAMS'], 'http://198.18.0.11:3000,http://198.18.0.12:3000');
  t.equal(multiWeb.env.web['WEB_PORT'], '0', 'the caller\'s env wins over the placement');
  t.equal(multiWeb.env.web['WEB_HOST'], '0.0.0.0');
  const multiApp = parseStartArgs(['--placement', 'multi-box', '--only', 'app'], { DATABASE_URL: 'postgres://u@198.18.0.99/x' });
  t.equal(multiApp.env.app['APP_HOST'], '0.0.0.0');
  t.equal(multiApp.env.app['DATABASE_URL'], 'postgres://u@198.18.0.99/x');
});

t.test('the banner: URLs, placement, workers, database without its password', async (t) => {
  const text = formatBanner({ placement: 'multi-box', webUrl: 'http://127.0.0.1:8080', appUrl: 'http://127.0.0.1:3000', upstreams: ['http://127.0.0.1:3000'], workers: 2, databaseUrl: 'postgres://twotier:s3cret@198.18.0.20/twotier' });
  t.match(text, /site\s+http:\/\/127\.0\.0\.1:8080\//);
  t.match(text, /status page\s+http:\/\/127\.0\.0\.1:8080\/-\/status/);
  t.match(text, /web metrics\s+http:\/\/127\.0\.0\.1:8080\/-\/metrics/);
  t.match(text, /app metrics\s+http:\/\/127\.0\.0\.1:3000\/metrics/);
  t.match(text, /placement\s+multi-box/);
  t.match(text, /app workers\s+2/);
  t.match(text, /database\s+postgres:\/\/twotier:\*\*\*@198\.18\.0\.20\/twotier/);
  t.notMatch(text, /s3cret/);
});
