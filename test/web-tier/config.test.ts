import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConfigError } from '../../common/config.js';
import { DEFAULTS, loadConfig, packageRoot } from '../../web-tier/config.js';
import { PROXY_DEFAULTS } from '../../web-tier/proxy/handler.js';
import { proxyOptions } from '../../web-tier/server-handlers.js';

const repoRoot = resolve(fileURLToPath(import.meta.url), '../../..');

t.test('defaults: single box, paths absolute against the package root', async (t) => {
  const config = loadConfig(undefined, {});
  t.equal(config.host, '127.0.0.1');
  t.equal(config.port, 8080);
  t.same(config.upstreams, ['http://127.0.0.1:3000']);
  t.equal(config.maxBodyBytes, 1024 * 1024);
  t.equal(config.dynamic, 'proxy');
  t.same(config.dynamicPrefixes, ['/api/', '/articles/', '/status-codes/']);
  t.equal(packageRoot(), repoRoot);
  t.equal(config.root, join(repoRoot, 'web-tier/public'));
  t.equal(config.cgiDir, join(repoRoot, 'web-tier/cgi-bin'));
  t.ok(Object.isFrozen(config));
  t.equal(DEFAULTS.root, 'web-tier/public', 'DEFAULTS keep the relative form');
});

t.test('environment variables override', async (t) => {
  const config = loadConfig(undefined, {
    WEB_HOST: '0.0.0.0', WEB_PORT: '0', WEB_ROOT: '/srv/www', APP_UPSTREAMS: 'http://10.0.0.2:3000, http://10.0.0.3:3000',
    WEB_MAX_BODY: '2048', LOG_LEVEL: 'silent', WEB_DYNAMIC: 'embedded', WEB_TRUSTED_PROXIES: '10.0.0.1,::1',
    WEB_HEADERS_TIMEOUT_MS: '1000', WEB_DYNAMIC_PREFIXES: '/api/', WEB_FOLLOW_OUTSIDE_SYMLINKS: 'true',
  });
  t.match(config, { host: '0.0.0.0', port: 0, root: '/srv/www', maxBodyBytes: 2048, logLevel: 'silent', dynamic: 'embedded', headersTimeoutMs: 1000, followOutsideSymlinks: true });
  t.same(config.upstreams, ['http://10.0.0.2:3000', 'http://10.0.0.3:3000']);
  t.same(config.trustedProxies, ['10.0.0.1', '::1']);
  t.same(config.dynamicPrefixes, ['/api/']);
  const pool = loadConfig(undefined, { APP_UPSTREAMS: 'http://10.0.0.2:3000#weight=3,http://10.0.0.3:3000', WEB_PROXY_BALANCE: 'least-conn', WEB_PROXY_HEALTH_INTERVAL_MS: '0', WEB_SERVER_NAMES: 'www.example,127.0.0.1' });
  t.same(pool.upstreams, ['http://10.0.0.2:3000#weight=3', 'http://10.0.0.3:3000'], 'a weight rides on the URL');
  t.equal(pool.proxyBalance, 'least-conn');
  t.equal(pool.proxyHealthIntervalMs, 0);
  t.same(pool.serverNames, ['www.example', '127.0.0.1']);
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

t.test('--config FILE with the same keys; unknown keys fail loudly; env wins over the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-web-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'web.json');
  writeFileSync(file, JSON.stringify({ port: 9000, root: 'site', listingDirs: ['/files/'], cacheControl: [{ prefix: '/assets/', value: 'public, max-age=600' }] }));
  const config = loadConfig(file, { WEB_PORT: '9001' });
  t.equal(config.port, 9001);
  t.equal(config.root, join(repoRoot, 'site'));
  t.same(config.listingDirs, ['/files/']);
  t.same(config.cacheControl, [{ prefix: '/assets/', value: 'public, max-age=600' }]);

  writeFileSync(file, JSON.stringify({ prot: 9000 }));
  const unknown = t.throws(() => loadConfig(file, {})) as ConfigError;
  t.equal(unknown.key, 'prot');
  writeFileSync(file, JSON.stringify({ cacheControl: [{ pattern: '(', value: 'x' }] }));
  t.throws(() => loadConfig(file, {}), { code: 'CONFIG_INVALID', key: `${file}: "cacheControl"` });
  t.throws(() => loadConfig(join(dir, 'missing.json'), {}), { code: 'CONFIG_INVALID', key: '--config' });
});

t.test('every ProxyOptions field is reachable from config, defaults equal to the proxy\'s own', async (t) => {
  const defaults = proxyOptions(loadConfig(undefined, {}));
  t.same(Object.keys(defaults).sort(), ['upstreams', ...Object.keys(PROXY_DEFAULTS)].sort(), 'one config key per option');
  t.same({ ...defaults, upstreams: undefined }, { ...PROXY_DEFAULTS, upstreams: undefined }, 'the same defaults');
  const tuned = proxyOptions(loadConfig(undefined, {
    WEB_PROXY_ENGINE: 'plain', WEB_PROXY_MAX_REPLAY_BODY: '4096', WEB_PROXY_RETRY_BUDGET_PERCENT: '50', WEB_PROXY_RETRY_BUDGET_MIN: '3',
    WEB_PROXY_RETRY_BUDGET_WINDOW_MS: '2000', WEB_PROXY_MAX_FAILS: '5', WEB_PROXY_FAIL_TIMEOUT_MS: '3000', WEB_PROXY_HEALTH_INTERVAL_MS: '700',
    WEB_PROXY_HEALTH_TIMEOUT_MS: '300', WEB_PROXY_HEALTH_PATH: '/ready', WEB_PROXY_MAX_SOCKETS: '8', WEB_PROXY_KEEP_ALIVE_IDLE_MS: '1000', WEB_PROXY_RETRY: '0',
  }));
  t.match(tuned, {
    engine: 'plain', maxReplayBodyBytes: 4096, retryBudget: { ratio: 0.5, minPerWindow: 3, windowMs: 2000 }, passiveHealth: { maxFails: 5, failTimeoutMs: 3000 },
    activeHealth: { intervalMs: 700, timeoutMs: 300, path: '/ready' }, maxSocketsPerUpstream: 8, keepAliveIdleMs: 1000, retryIdempotentOnReset: false,
  });
  t.equal(proxyOptions(loadConfig(undefined, { WEB_PROXY_HEALTH_INTERVAL_MS: '0' })).activeHealth, false, '0 turns active checks off');
  const cluster = loadConfig(undefined, { WEB_WORKERS: '4', WEB_OPERATOR_ALLOW: '10.0.0.0/8,::1' });
  t.equal(cluster.workers, 4);
  t.same(cluster.operatorAllow, ['10.0.0.0/8', '::1']);
  t.same(loadConfig(undefined, {}).operatorAllow, ['127.0.0.0/8', '::1/128'], 'loopback only by default');
});
