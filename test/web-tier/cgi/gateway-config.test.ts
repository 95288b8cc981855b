/**
 * Issue 12 item 2, in-process: the CGI gateway as the web tier builds it from config. Off by
 * default (/cgi-bin/ is a static path and no script runs); on, the application script alone gets
 * DATABASE_URL and APP_TOKEN from the server's own config, and no other script sees them.
 */
import t from 'tap';
import { once } from 'node:events';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createLogger } from '../../../common/logger.js';
import { cgiEnabled, loadConfig } from '../../../web-tier/config.js';
import { contextForTarget } from '../../../web-tier/context.js';
import { buildCgi } from '../../../web-tier/server-handlers.js';
import { startWeb } from '../../helpers/web-tier.js';
import { makeCgiDir, parseEnv, send, startCgiServer, writeScript } from './helpers.js';

const ENV_SCRIPT = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nexec env\n";
const TOKEN = 'tok-SECRET-cgi-1';
const DATABASE_URL = 'postgres://twotier:pw-SECRET-cgi-2@db.example/twotier';

/** A CGI directory with an `app` that prints its environment and leaves a marker when it runs, and env.sh. */
function scripts(t: Parameters<typeof makeCgiDir>[0]): { cgiDir: string; root: string; marker: string } {
  const dir = makeCgiDir(t);
  const cgiDir = join(dir, 'cgi-bin');
  const root = join(dir, 'www');
  mkdirSync(cgiDir);
  mkdirSync(root);
  const marker = join(dir, 'app-ran');
  writeScript(cgiDir, 'app', `#!/bin/sh\n: > '${marker}'\nprintf 'Content-Type: text/plain\\n\\n'\nexec env\n`);
  writeScript(cgiDir, 'env.sh', ENV_SCRIPT);
  return { cgiDir, root, marker };
}

t.test('WEB_CGI: off by default; on/off, true/false, 1/0; WEB_DYNAMIC=cgi implies it; APP_TOKEN is read', async (t) => {
  const config = loadConfig(undefined, {});
  t.equal(config.cgi.enabled, false, 'off unless the operator turns it on');
  t.equal(cgiEnabled(config), false);
  t.equal(config.app.token, undefined);
  for (const [value, expected] of [['on', true], ['off', false], ['true', true], ['false', false], ['1', true], ['0', false]] as const) {
    t.equal(loadConfig(undefined, { WEB_CGI: value }).cgi.enabled, expected, `WEB_CGI=${value}`);
  }
  t.equal(cgiEnabled(loadConfig(undefined, { WEB_DYNAMIC: 'cgi' })), true, 'WEB_DYNAMIC=cgi needs the gateway for the app');
  t.equal(cgiEnabled(loadConfig(undefined, { WEB_DYNAMIC: 'embedded' })), false);
  t.throws(() => loadConfig(undefined, { WEB_CGI: 'maybe' }), { name: 'ConfigError', key: 'WEB_CGI' });
  t.equal(loadConfig(undefined, { APP_TOKEN: TOKEN }).app.token, TOKEN, 'the app tier\'s own variable');
  t.equal(loadConfig(undefined, { APP_TOKEN: '' }).app.token, undefined, 'empty is unset, as in the app tier');
});

t.test('CGI off (default): /cgi-bin/app is a static path (404; 405 to a write) and the script never runs', async (t) => {
  const { cgiDir, root, marker } = scripts(t);
  const { origin } = await startWeb(t, { env: { WEB_ROOT: root, WEB_CGI_DIR: cgiDir, APP_UPSTREAMS: '', WEB_DYNAMIC: 'proxy' } });
  // What any static path answers: GET a missing file → 404; a write → 405 with Allow (RFC 9110 §15.5.6).
  const cases = [
    ['GET', '/cgi-bin/app/api/articles/', 404], ['GET', '/cgi-bin/env.sh', 404], ['GET', '/%63gi-bin/app', 404], ['GET', '/cgi-bin/app', 404],
    ['POST', '/cgi-bin/app/api/articles/', 405], ['DELETE', '/cgi-bin/app/api/articles/1/', 405],
  ] as const;
  for (const [method, path, status] of cases) {
    const reply = await send(origin, path, { method, ...(method === 'POST' ? { headers: { 'Content-Type': 'application/json' }, body: '{}' } : {}) });
    t.equal(reply.status, status, `${method} ${path} → ${status}`);
    t.equal(reply.headers['x-served-by'], 'static', 'answered as a static path');
  }
  t.notOk(existsSync(marker), 'cgi-bin/app never ran');
  const metrics = await send(origin, '/-/metrics');
  t.match(metrics.body, /^twotier_web_cgi_processes_started_total 0$/m, 'no CGI process was started');
});

t.test('CGI on: cgi-bin/app alone gets DATABASE_URL and APP_TOKEN from config; other scripts see neither', async (t) => {
  const { cgiDir, root, marker } = scripts(t);
  const { origin } = await startWeb(t, { env: { WEB_ROOT: root, WEB_CGI: 'on', WEB_CGI_DIR: cgiDir, APP_UPSTREAMS: '', APP_TOKEN: TOKEN, DATABASE_URL } });
  // A client trying to hand scripts the secrets' names as headers gets HTTP_* variables, nothing more.
  const forged = { 'App-Token': 'forged', 'Database-Url': 'sqlite:/tmp/forged.db' };

  const other = await send(origin, '/cgi-bin/env.sh', { headers: forged });
  t.equal(other.status, 200);
  const otherEnv = parseEnv(other.body);
  t.notOk('APP_TOKEN' in otherEnv, 'env.sh has no APP_TOKEN');
  t.notOk('DATABASE_URL' in otherEnv, 'env.sh has no DATABASE_URL');
  t.notOk(other.body.includes(TOKEN) || other.body.includes('pw-SECRET-cgi-2'), 'neither secret appears anywhere in its environment');
  t.equal(otherEnv['HTTP_APP_TOKEN'], 'forged', 'a request header stays an HTTP_ variable');

  const app = await send(origin, '/cgi-bin/app/api/echo', { headers: forged });
  t.equal(app.status, 200);
  const appEnv = parseEnv(app.body);
  t.equal(appEnv['APP_TOKEN'], TOKEN, 'the app script gets the configured token');
  t.equal(appEnv['DATABASE_URL'], DATABASE_URL, 'and the database URL with its password');
  t.ok(existsSync(marker));

  const hello = await send(origin, '/cgi-bin/env.sh/app', { headers: forged });
  t.notOk('APP_TOKEN' in parseEnv(hello.body), 'path info naming the app does not make another script the app');
});

t.test('CGI on without APP_TOKEN: no request can give the app script one', async (t) => {
  const { cgiDir, root } = scripts(t);
  const { origin, log } = await startWeb(t, { env: { WEB_ROOT: root, WEB_CGI: 'on', WEB_CGI_DIR: cgiDir, APP_UPSTREAMS: '' } });
  const app = await send(origin, '/cgi-bin/app', { headers: { 'App-Token': 'forged', Authorization: 'Bearer forged' } });
  const env = parseEnv(app.body);
  t.notOk('APP_TOKEN' in env);
  t.equal(env['HTTP_AUTHORIZATION'], 'Bearer forged', 'the client\'s credentials arrive as credentials, for the app to check');
  t.ok(log.lines().some((line) => line['level'] === 40 && /no APP_TOKEN/.test(String(line['msg']))), 'the operator is warned at start-up');
});

t.test('a reload cannot turn the gateway on: cgi and appToken are read at start-up', async (t) => {
  const { cgiDir, root, marker } = scripts(t);
  const env = { WEB_ROOT: root, WEB_CGI_DIR: cgiDir, APP_UPSTREAMS: '' };
  const { origin, web } = await startWeb(t, { env });
  const result = await web.reload(loadConfig(undefined, { ...env, WEB_PORT: '0', WEB_HOST: '127.0.0.1', WEB_CGI: 'on', APP_TOKEN: TOKEN }));
  t.same([...result.needRestart].sort(), ['app.token', 'cgi.enabled']);
  t.equal((await send(origin, '/cgi-bin/app')).status, 404);
  t.notOk(existsSync(marker));
});

t.test('scriptEnv: per script, over passEnv, and a script named like an Object property gets nothing extra', async (t) => {
  const cgiDir = makeCgiDir(t);
  writeScript(cgiDir, 'app', ENV_SCRIPT);
  writeScript(cgiDir, 'constructor', ENV_SCRIPT);
  writeScript(cgiDir, '__proto__', ENV_SCRIPT);
  const { base } = await startCgiServer(t, { cgiDir, passEnv: { SHARED: 'yes', SECRET: 'public' }, scriptEnv: { app: { SECRET: 'only-app' } } });
  t.match(parseEnv((await send(base, '/cgi-bin/app')).body), { SHARED: 'yes', SECRET: 'only-app' });
  for (const name of ['constructor', '__proto__']) {
    const env = parseEnv((await send(base, `/cgi-bin/${name}`)).body);
    t.match(env, { SHARED: 'yes', SECRET: 'public' }, name);
  }
});

t.test('buildCgi with the gateway off: a handler that runs nothing and answers 404, should anything reach it', async (t) => {
  const { cgiDir, marker } = scripts(t);
  const logger = createLogger({ tier: 'web', level: 'silent' });
  const handler = buildCgi(loadConfig(undefined, { WEB_CGI_DIR: cgiDir }), logger, () => undefined);
  const server = createServer((req, res) => handler.handle(req, res, contextForTarget(req.url ?? '/', logger)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    await handler.close();
    server.closeAllConnections();
    server.close();
  });
  const reply = await send(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, '/cgi-bin/app');
  t.equal(reply.status, 404);
  t.notOk(existsSync(marker));
});

t.test('where the app runs in the web tier, a DATABASE_URL it cannot use stops start-up (password redacted)', async (t) => {
  t.throws(() => loadConfig(undefined, { WEB_DYNAMIC: 'cgi', DATABASE_URL: 'sqlite::memory:' }), { name: 'ConfigError', key: 'DATABASE_URL', message: /every CGI process would open its own empty database/ });
  t.throws(() => loadConfig(undefined, { WEB_DYNAMIC: 'embedded', DATABASE_URL: 'mysql://db/x' }), { name: 'ConfigError', key: 'DATABASE_URL', message: /unknown scheme "mysql:"/ });
  t.throws(() => loadConfig(undefined, { WEB_CGI: 'on', DATABASE_URL: 'nonsense' }), { name: 'ConfigError', key: 'DATABASE_URL' });
  let message = '';
  try {
    loadConfig(undefined, { WEB_DYNAMIC: 'embedded', DATABASE_URL: 'postgres://u:pw-SECRET-5@db.example/' });
  } catch (error) {
    message = (error as Error).message;
  }
  t.match(message, /names no database/);
  t.notOk(message.includes('pw-SECRET-5'), 'the password is not repeated');
  t.equal(loadConfig(undefined, { WEB_DYNAMIC: 'embedded', DATABASE_URL: 'sqlite::memory:' }).app.databaseUrl, 'sqlite::memory:', 'embedded: one process, one memory database, fine');
  t.equal(loadConfig(undefined, { DATABASE_URL: 'mysql://db/x' }).app.databaseUrl, 'mysql://db/x', 'proxy mode with CGI off does not use it: the app tier checks its own');
});
