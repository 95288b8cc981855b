/**
 * Issue 12 item 2, the Postgres placement: the application run as CGI and embedded works against
 * Postgres with a DATABASE_URL that carries a password (the role needs it: scram-sha-256 on the
 * socket), enforces APP_TOKEN the same way, and a wrong password fails clearly without the
 * password in any message. The in-process test (test/web-tier/cgi/gateway-config.test.ts) shows
 * the URL reaches cgi-bin/app alone, never another script.
 */
import t, { type Test } from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { send } from '../helpers/app-tier.js';
import { postgresSkipReason, startPostgres, type PostgresCluster } from '../helpers/postgres.js';
import { spawnEntry, WEB_MAIN } from '../helpers/web-tier.js';

const TOKEN = 'pg-modes-token-1';
const PASSWORD = 'pw-SECRET-pg-7';
const skip = postgresSkipReason();

t.setTimeout(600_000);

/** A role that must give its password, owning the named databases. */
async function passwordRole(cluster: PostgresCluster, databases: readonly string[]): Promise<void> {
  const admin = new pg.Client({ connectionString: cluster.url('postgres') });
  await admin.connect();
  try {
    await admin.query(`CREATE ROLE twotier LOGIN PASSWORD '${PASSWORD}'`);
    for (const name of databases) await admin.query(`CREATE DATABASE "${name}" OWNER twotier`);
    // initdb -A trust lets every local user in without a password: the role must give one here.
    const hba = join(cluster.socketDir, 'data', 'pg_hba.conf');
    writeFileSync(hba, `local all twotier scram-sha-256\n${readFileSync(hba, 'utf8')}`);
    await admin.query('SELECT pg_reload_conf()');
  } finally {
    await admin.end();
  }
}

function roleUrl(cluster: PostgresCluster, database: string, password: string): string {
  return `postgres://twotier:${encodeURIComponent(password)}@localhost/${database}?host=${encodeURIComponent(cluster.socketDir)}`;
}

async function startWeb(t: Test, env: Record<string, string>): Promise<string> {
  const web = spawnEntry(t, WEB_MAIN, { WEB_HOST: '127.0.0.1', WEB_PORT: '0', APP_UPSTREAMS: '', LOG_LEVEL: 'info', WEB_CGI_TIMEOUT_MS: '30000', ...env });
  const listening = await web.waitForLine((line) => line['msg'] === 'listening', 60_000);
  return `http://127.0.0.1:${listening['port'] as number}`;
}

const JSON_TYPE = { 'Content-Type': 'application/json', Accept: 'application/json' };
const article = JSON.stringify({ title: 'On Postgres', body: 'With a password.', published: '2003-05-17T10:00:00.000Z' });

async function writesNeedTheToken(t: Test, base: string): Promise<void> {
  t.equal((await send(`${base}/api/articles/`, { headers: { Accept: 'application/json' } })).status, 200, 'reads');
  const bare = await send(`${base}/api/articles/`, { method: 'POST', headers: JSON_TYPE, body: article });
  t.equal(bare.status, 401, 'a write without the token → 401');
  t.equal(bare.headers['www-authenticate'], 'Bearer realm="twotier"');
  const created = await send(`${base}/api/articles/`, { method: 'POST', headers: { ...JSON_TYPE, Authorization: `Bearer ${TOKEN}` }, body: article });
  t.equal(created.status, 201, 'with it → 201');
  const location = created.headers.location ?? '';
  t.equal((await send(`${base}${location}`, { headers: { Accept: 'application/json' } })).json<{ title: string }>().title, 'On Postgres', 'read back');
  t.equal((await send(`${base}${location}`, { method: 'DELETE' })).status, 401);
  t.equal((await send(`${base}${location}`, { method: 'DELETE', headers: { Authorization: `Bearer ${TOKEN}` } })).status, 204);
}

t.test('CGI and embedded on Postgres with a password', { skip }, async (t) => {
  const cluster = await startPostgres(t);
  await passwordRole(cluster, ['cgi', 'embedded']);

  t.test('the role really needs its password', async (t) => {
    const client = new pg.Client({ connectionString: roleUrl(cluster, 'cgi', 'wrong') });
    await t.rejects(client.connect(), /password authentication failed/);
  });

  t.test('WEB_DYNAMIC=cgi: each process opens Postgres with the URL from the gateway\'s config', async (t) => {
    const base = await startWeb(t, { WEB_DYNAMIC: 'cgi', APP_TOKEN: TOKEN, DATABASE_URL: roleUrl(cluster, 'cgi', PASSWORD), NODE: process.execPath });
    await writesNeedTheToken(t, base);
  });

  t.test('WEB_DYNAMIC=embedded: the web tier opens Postgres itself', async (t) => {
    const base = await startWeb(t, { WEB_DYNAMIC: 'embedded', APP_TOKEN: TOKEN, DATABASE_URL: roleUrl(cluster, 'embedded', PASSWORD) });
    await writesNeedTheToken(t, base);
  });

  t.test('a wrong password: embedded refuses to start, CGI answers 503; the password is in no message', async (t) => {
    const wrong = 'WRONG-pw-SECRET-3';
    const web = spawnEntry(t, WEB_MAIN, { WEB_HOST: '127.0.0.1', WEB_PORT: '0', APP_UPSTREAMS: '', LOG_LEVEL: 'info', WEB_DYNAMIC: 'embedded', DATABASE_URL: roleUrl(cluster, 'embedded', wrong) });
    const exit = await web.exited;
    t.equal(exit.code, 1, 'embedded: exit 1');
    t.match(web.stderr(), /^twotier web: DATABASE_URL: cannot open the application for embedded mode: .*password authentication failed/m);
    t.notOk(web.stderr().includes(wrong) || JSON.stringify(web.lines).includes(wrong), 'the password is not printed');

    const cgi = spawnEntry(t, WEB_MAIN, { WEB_HOST: '127.0.0.1', WEB_PORT: '0', APP_UPSTREAMS: '', LOG_LEVEL: 'info', WEB_DYNAMIC: 'cgi', DATABASE_URL: roleUrl(cluster, 'cgi', wrong), NODE: process.execPath });
    const listening = await cgi.waitForLine((line) => line['msg'] === 'listening', 60_000);
    const reply = await send(`http://127.0.0.1:${listening['port'] as number}/api/articles/`, { headers: { Accept: 'application/json' } });
    t.equal(reply.status, 503, 'CGI: the store is unavailable, 503');
    t.equal(reply.json<{ error: { code: string } }>().error.code, 'APP_ERR_STORE_UNAVAILABLE');
    t.notOk(reply.text.includes(wrong), 'not in the response');
    await cgi.waitForLine((line) => line['msg'] === 'cgi script stderr', 30_000);
    t.notOk(JSON.stringify(cgi.lines).includes(wrong), 'not in the web tier\'s log (the script\'s stderr included)');
  });
});
