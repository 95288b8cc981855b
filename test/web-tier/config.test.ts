import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConfigError } from '../../common/config.js';
import { planReload } from '../../web-tier/config-reload.js';
import { DEFAULTS, loadConfig, MOVED_KEYS, packageRoot } from '../../web-tier/config.js';
import { PROXY_DEFAULTS } from '../../web-tier/proxy/config.js';
import { proxyOptions } from '../../web-tier/server-handlers.js';

const repoRoot = resolve(fileURLToPath(import.meta.url), '../../..');

t.test('defaults: single box, paths absolute against the package root', async (t) => {
  const config = loadConfig(undefined, {});
  t.equal(config.server.host, '127.0.0.1');
  t.equal(config.server.port, 8080);
  t.same(config.proxy.upstreams, ['http://127.0.0.1:3000']);
  t.equal(config.limits.maxBodyBytes, 1024 * 1024);
  t.equal(config.server.dynamic, 'proxy');
  t.same(config.server.dynamicPrefixes, ['/api/', '/articles/', '/status-codes/']);
  t.equal(packageRoot(), repoRoot);
  t.equal(config.static.root, join(repoRoot, 'web-tier/public'));
  t.equal(config.cgi.dir, join(repoRoot, 'web-tier/cgi-bin'));
  t.ok(Object.isFrozen(config));
  t.ok(Object.isFrozen(config.proxy) && Object.isFrozen(config.proxy.retryBudget) && Object.isFrozen(config.static.cacheControl), 'frozen all the way down: validated once, then trusted');
  t.equal(DEFAULTS.static.root, 'web-tier/public', 'DEFAULTS keep the relative form');
});

t.test('environment variables override', async (t) => {
  const config = loadConfig(undefined, {
    WEB_HOST: '0.0.0.0', WEB_PORT: '0', WEB_ROOT: '/srv/www', APP_UPSTREAMS: 'http://10.0.0.2:3000, http://10.0.0.3:3000',
    WEB_MAX_BODY: '2048', LOG_LEVEL: 'silent', WEB_DYNAMIC: 'embedded', WEB_TRUSTED_PROXIES: '10.0.0.1,::1',
    WEB_HEADERS_TIMEOUT_MS: '1000', WEB_DYNAMIC_PREFIXES: '/api/', WEB_FOLLOW_OUTSIDE_SYMLINKS: 'true',
  });
  t.match(config, { server: { host: '0.0.0.0', port: 0, logLevel: 'silent', dynamic: 'embedded' }, static: { root: '/srv/www', followOutsideSymlinks: true }, limits: { maxBodyBytes: 2048, headersTimeoutMs: 1000 } });
  t.same(config.proxy.upstreams, ['http://10.0.0.2:3000', 'http://10.0.0.3:3000']);
  t.same(config.server.trustedProxies, ['10.0.0.1', '::1']);
  t.same(config.server.dynamicPrefixes, ['/api/']);
  const pool = loadConfig(undefined, { APP_UPSTREAMS: 'http://10.0.0.2:3000#weight=3,http://10.0.0.3:3000', WEB_PROXY_BALANCE: 'least-conn', WEB_PROXY_HEALTH_INTERVAL_MS: '0', WEB_SERVER_NAMES: 'www.example,127.0.0.1' });
  t.same(pool.proxy.upstreams, ['http://10.0.0.2:3000#weight=3', 'http://10.0.0.3:3000'], 'a weight rides on the URL');
  t.equal(pool.proxy.balance, 'least-conn');
  t.equal(pool.proxy.activeHealth.intervalMs, 0);
  t.same(pool.server.serverNames, ['www.example', '127.0.0.1']);
});

t.test('bad values fail naming the key', async (t) => {
  const cases: [Record<string, string>, string][] = [
    [{ WEB_PORT: '99999' }, 'WEB_PORT'],
    [{ WEB_PORT: 'eighty' }, 'WEB_PORT'],
    [{ APP_UPSTREAMS: 'ftp://x' }, 'APP_UPSTREAMS'],
    [{ APP_UPSTREAMS: 'http://a:1,not a url' }, 'APP_UPSTREAMS'],
    [{ APP_UPSTREAMS: 'http://a:1/?q=1' }, 'APP_UPSTREAMS'],
    [{ WEB_MAX_BODY: '-1' }, 'WEB_MAX_BODY'],
    [{ WEB_DYNAMIC: 'fastcgi' }, 'WEB_DYNAMIC'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ WEB_TRUSTED_PROXIES: 'proxy.example' }, 'WEB_TRUSTED_PROXIES'],
    [{ WEB_DYNAMIC_PREFIXES: '/' }, 'WEB_DYNAMIC_PREFIXES'],
    [{ WEB_DYNAMIC_PREFIXES: 'api' }, 'WEB_DYNAMIC_PREFIXES'],
    [{ WEB_FOLLOW_OUTSIDE_SYMLINKS: 'maybe' }, 'WEB_FOLLOW_OUTSIDE_SYMLINKS'],
    [{ WEB_HEADERS_TIMEOUT_MS: '0' }, 'WEB_HEADERS_TIMEOUT_MS'],
    [{ WEB_HEADERS_TIMEOUT_MS: '500000' }, 'headersTimeoutMs'],
    [{ APP_UPSTREAMS: 'http://a:1#weight=x' }, 'APP_UPSTREAMS'],
    [{ WEB_PROXY_BALANCE: 'random' }, 'WEB_PROXY_BALANCE'],
    [{ WEB_SERVER_NAMES: 'a.example:80' }, 'WEB_SERVER_NAMES'],
    [{ WEB_OPERATOR_ALLOW: '10.0.0.0/40' }, 'WEB_OPERATOR_ALLOW'],
    [{ WEB_OPERATOR_ALLOW: 'localhost' }, 'WEB_OPERATOR_ALLOW'],
    [{ WEB_WORKERS: '0' }, 'WEB_WORKERS'],
    [{ WEB_PROXY_ENGINE: 'undici' }, 'WEB_PROXY_ENGINE'],
    [{ WEB_PROXY_MAX_FAILS: '0' }, 'WEB_PROXY_MAX_FAILS'],
    [{ WEB_PROXY_HEALTH_PATH: 'readyz' }, 'WEB_PROXY_HEALTH_PATH'],
    [{ WEB_PROXY_RETRY: 'sometimes' }, 'WEB_PROXY_RETRY'],
  ];
  for (const [env, key] of cases) {
    const error = t.throws(() => loadConfig(undefined, env), { code: 'CONFIG_INVALID' }) as ConfigError;
    t.equal(error.key, key, `${JSON.stringify(env)} names ${key}`);
    t.notMatch(error.message, /\n/, 'one line');
  }
});

t.test('--config FILE in sections; unknown keys fail loudly; env wins over the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-web-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'web.json');
  writeFileSync(file, JSON.stringify({ server: { port: 9000 }, static: { root: 'site', listingDirs: ['/files/'], cacheControl: [{ prefix: '/assets/', value: 'public, max-age=600' }] }, proxy: { retryBudget: { percent: 5 } } }));
  const config = loadConfig(file, { WEB_PORT: '9001' });
  t.equal(config.server.port, 9001);
  t.equal(config.server.host, '127.0.0.1', 'a section given in part keeps the defaults of the rest');
  t.equal(config.static.root, join(repoRoot, 'site'));
  t.same(config.static.listingDirs, ['/files/']);
  t.same(config.static.cacheControl, [{ prefix: '/assets/', value: 'public, max-age=600' }]);
  t.same(config.proxy.retryBudget, { percent: 5, minPerWindow: 10, windowMs: 10_000 }, 'a group given in part too');

  writeFileSync(file, JSON.stringify({ prot: 9000 }));
  const unknown = t.throws(() => loadConfig(file, {})) as ConfigError;
  t.equal(unknown.key, 'prot');
  writeFileSync(file, JSON.stringify({ static: { cacheControl: [{ pattern: '(', value: 'x' }] } }));
  t.throws(() => loadConfig(file, {}), { code: 'CONFIG_INVALID', key: `${file}: "static.cacheControl"` });
  writeFileSync(file, JSON.stringify({ proxy: { conectTimeoutMs: 5 } }));
  t.throws(() => loadConfig(file, {}), { code: 'CONFIG_INVALID', key: 'proxy.conectTimeoutMs', message: /unknown key "proxy\.conectTimeoutMs"/ });
  writeFileSync(file, JSON.stringify({ proxy: 5 }));
  t.throws(() => loadConfig(file, {}), { code: 'CONFIG_INVALID', message: /"proxy" must be an object/ });
  t.throws(() => loadConfig(join(dir, 'missing.json'), {}), { code: 'CONFIG_INVALID', key: '--config' });
});

t.test('a key that moved into a section fails loudly, saying where it went', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-web-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'web.json');
  const cases: [string, unknown, string][] = [
    ['port', 8080, 'server.port'],
    ['maxBodyBytes', 10, 'limits.maxBodyBytes'],
    ['root', 'site', 'static.root'],
    ['upstreams', ['http://10.0.0.2:3000'], 'proxy.upstreams'],
    ['proxyConnectTimeoutMs', 100, 'proxy.connectTimeoutMs'],
    ['proxyRetryBudgetPercent', 5, 'proxy.retryBudget.percent'],
    ['proxyHealthIntervalMs', 0, 'proxy.activeHealth.intervalMs'],
    ['peerMaxConnections', 3, 'limits.peer.maxConnectionsPerPeer'],
    ['cgiDir', 'x', 'cgi.dir'],
    ['operatorAllow', ['10.0.0.0/8'], 'operator.allow'],
    ['appToken', 'x', 'app.token'],
  ];
  for (const [former, value, now] of cases) {
    writeFileSync(file, JSON.stringify({ [former]: value }));
    const error = t.throws(() => loadConfig(file, {}), { code: 'CONFIG_INVALID' }) as ConfigError;
    t.equal(error.key, former, `${former} is named`);
    t.match(error.message, `moved to "${now}"`, `${former} → ${now}`);
    t.notMatch(error.message, /\n/, 'one line');
  }
  t.equal(Object.keys(MOVED_KEYS).length, 66, 'every flat key of the old config file has a new place');
  for (const path of Object.values(MOVED_KEYS)) {
    const value = path.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], DEFAULTS);
    // app.token (APP_TOKEN) is the one setting without a default.
    t.ok(value !== undefined || path === 'app.token', `${path} exists`);
  }
});

t.test('every proxy setting is reachable from config, in its own unit, defaults equal to the proxy section\'s own', async (t) => {
  const defaults = loadConfig(undefined, {});
  t.same(Object.keys(proxyOptions(defaults)).sort(), [...Object.keys(PROXY_DEFAULTS), 'maxBodyBytes', 'trustedProxies'].sort(), 'the section, plus the body limit and trusted peers');
  t.same(defaults.proxy, PROXY_DEFAULTS, 'the same defaults');
  const tuned = proxyOptions(loadConfig(undefined, {
    WEB_PROXY_ENGINE: 'plain', WEB_PROXY_MAX_REPLAY_BODY: '4096', WEB_PROXY_RETRY_BUDGET_PERCENT: '50', WEB_PROXY_RETRY_BUDGET_MIN: '3',
    WEB_PROXY_RETRY_BUDGET_WINDOW_MS: '2000', WEB_PROXY_MAX_FAILS: '5', WEB_PROXY_FAIL_TIMEOUT_MS: '3000', WEB_PROXY_HEALTH_INTERVAL_MS: '700',
    WEB_PROXY_HEALTH_TIMEOUT_MS: '300', WEB_PROXY_HEALTH_PATH: '/ready', WEB_PROXY_MAX_SOCKETS: '8', WEB_PROXY_KEEP_ALIVE_IDLE_MS: '1000', WEB_PROXY_RETRY: '0',
  }));
  t.match(tuned, {
    engine: 'plain', maxReplayBodyBytes: 4096, retryBudget: { percent: 50, minPerWindow: 3, windowMs: 2000 }, passiveHealth: { maxFails: 5, failTimeoutMs: 3000 },
    activeHealth: { intervalMs: 700, timeoutMs: 300, path: '/ready' }, maxSocketsPerUpstream: 8, keepAliveIdleMs: 1000, retryIdempotentOnReset: false,
  });
  t.equal(proxyOptions(loadConfig(undefined, { WEB_PROXY_HEALTH_INTERVAL_MS: '0' })).activeHealth.intervalMs, 0, '0 turns active checks off');
  const cluster = loadConfig(undefined, { WEB_WORKERS: '4', WEB_OPERATOR_ALLOW: '10.0.0.0/8,::1' });
  t.equal(cluster.server.workers, 4);
  t.same(cluster.operator.allow, ['10.0.0.0/8', '::1']);
  t.same(loadConfig(undefined, {}).operator.allow, ['127.0.0.0/8', '::1/128'], 'loopback only by default');
});

t.test('a reload decides by sections what it applies and what needs a restart', async (t) => {
  const config = loadConfig(undefined, {});
  const next = loadConfig(undefined, { APP_UPSTREAMS: 'http://10.0.0.9:3000', WEB_MAX_BODY: '10', WEB_PORT: '9', WEB_STATIC_INDEX: 'home.html', WEB_CGI_TIMEOUT_MS: '5' });
  const plan = planReload(config, next);
  t.same([...plan.applied].sort(), ['cgi.timeoutMs', 'limits.maxBodyBytes', 'proxy.upstreams']);
  t.same([...plan.needRestart].sort(), ['server.port', 'static.index']);
  t.equal(plan.config.server.port, 8080, 'the port is kept until a restart');
  t.equal(plan.config.static, config.static, 'the static section, built once, is kept whole');
  t.same(plan.config.proxy.upstreams, ['http://10.0.0.9:3000'], 'the proxy section is taken whole');
  t.same(planReload(config, config), { config, applied: [], needRestart: [] }, 'nothing changed');
});
