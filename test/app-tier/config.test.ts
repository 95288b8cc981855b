import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../common/config.js';
import { DEFAULTS, loadConfig } from '../../app-tier/config.js';

function configFile(t: Test, values: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-app-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'app.json');
  writeFileSync(file, JSON.stringify(values));
  return file;
}

function failure(t: Test, file: string | undefined, env: Record<string, string>): ConfigError {
  const error = t.throws(() => loadConfig(file, env)) as ConfigError;
  t.equal(error.code, 'CONFIG_INVALID');
  t.notMatch(error.message, /\n/, 'one line');
  return error;
}

t.test('defaults', async (t) => {
  const config = loadConfig(undefined, {});
  t.same(config, DEFAULTS);
  t.equal(config.host, '127.0.0.1');
  t.equal(config.port, 3000);
  t.ok(config.workers >= 2, 'at least two workers by default');
  t.equal(config.databaseUrl, 'sqlite:./data/twotier.db');
  t.equal(config.faultRoutes, false);
  t.equal(config.appToken, undefined);
  t.ok(config.headersTimeoutMs > config.keepAliveTimeoutMs);
  t.ok(Object.isFrozen(config));
});

t.test('env and file', async (t) => {
  const file = configFile(t, { port: 4000, workers: 3, shutdownTimeoutMs: 500 });
  const config = loadConfig(file, { APP_PORT: '0', APP_WORKERS: '1', APP_TOKEN: 's3cret', APP_FAULT_ROUTES: '1', DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent' });
  t.match(config, { port: 0, workers: 1, appToken: 's3cret', faultRoutes: true, databaseUrl: 'sqlite::memory:', logLevel: 'silent', shutdownTimeoutMs: 500 });
});

t.test('bad values name the key', async (t) => {
  t.match(failure(t, undefined, { APP_PORT: '99999' }), { key: 'APP_PORT', message: /^APP_PORT\b.*must be a port number from 0 to 65535, got 99999/ });
  t.match(failure(t, undefined, { APP_WORKERS: '0' }), { key: 'APP_WORKERS', message: /positive number of worker processes/ });
  t.match(failure(t, undefined, { DATABASE_URL: 'mysql://db/x' }), { key: 'DATABASE_URL', message: /unknown scheme "mysql:"/ });
  t.match(failure(t, undefined, { LOG_LEVEL: 'loud' }), { key: 'LOG_LEVEL' });
  t.match(failure(t, undefined, { APP_FAULT_ROUTES: 'maybe' }), { key: 'APP_FAULT_ROUTES' });
  t.match(failure(t, undefined, { APP_KEEP_ALIVE_TIMEOUT_MS: '70000' }), { key: 'headersTimeoutMs', message: /greater than keepAliveTimeoutMs/ });
  t.match(failure(t, configFile(t, { prot: 1 }), {}), { key: 'prot', message: /unknown key "prot"/ });
  t.match(failure(t, configFile(t, { port: 'x' }), {}), { message: /"port".*port number/ });
  t.match(failure(t, configFile(t, { restartDelayMs: 500, maxRestartDelayMs: 100 }), {}), { key: 'maxRestartDelayMs' });
});

t.test('operator allow list and pid file', async (t) => {
  t.same(DEFAULTS.operatorAllow, [], 'loopback only by default');
  t.equal(DEFAULTS.pidFile, './data/app-tier.pid');
  const config = loadConfig(undefined, { APP_OPERATOR_ALLOW: '10.0.0.5, 10.1.0.0/16,fd00::/8', APP_PID_FILE: '/run/twotier/app.pid' });
  t.same(config.operatorAllow, ['10.0.0.5', '10.1.0.0/16', 'fd00::/8']);
  t.equal(config.pidFile, '/run/twotier/app.pid');
  t.same(loadConfig(configFile(t, { operatorAllow: ['192.0.2.1'] }), {}).operatorAllow, ['192.0.2.1']);
  t.match(failure(t, undefined, { APP_OPERATOR_ALLOW: '10.0.0.0/33' }), { key: 'APP_OPERATOR_ALLOW', message: /IP address or CIDR block.*10\.0\.0\.0\/33/ });
  t.match(failure(t, undefined, { APP_OPERATOR_ALLOW: 'web-box' }), { key: 'APP_OPERATOR_ALLOW' });
  t.match(failure(t, configFile(t, { operatorAllow: '10.0.0.1' }), {}), { message: /"operatorAllow".*list of IP addresses/ });
  t.match(failure(t, configFile(t, { pidFile: '' }), {}), { message: /"pidFile".*file path/ });
});
