/**
 * WEB_TLS=acme without an ACME server (issue 15; the real order is test/e2e/acme-pebble.test.ts):
 * bad settings are refused naming the setting; the HTTP-01 route answers only the tokens of
 * pending orders, on the plain listener before the redirect to https, and nothing else under its
 * prefix (hostile paths: traversal, encoded dots, other tokens, trailing slash) ever reaches the
 * static files; an unreachable directory is one clear line and the plain listener keeps serving;
 * a stored certificate is served at start without ordering.
 */
import t, { type Test } from 'tap';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, type PeerCertificate } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../web-tier/config.js';
import { renewalPoint } from '../../../web-tier/tls/acme.js';
import { createFakeHandler, startWeb, type LogSink } from '../../helpers/web-tier.js';
import { makeCa, makeLeaf } from '../../helpers/tls-certs.js';

interface Answer { status: number; headers: IncomingHttpHeaders; body: string }

function send(port: number, path: string, method = 'GET', body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, agent: false, headers: { Host: 'a.test', ...(body === undefined ? {} : { 'Content-Length': String(Buffer.byteLength(body)) }) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

function handshake(port: number, ca: string): Promise<PeerCertificate | string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'a.test', ca }, () => {
      resolve(socket.getPeerCertificate());
      socket.end();
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error('timeout')));
    socket.on('error', (error) => resolve(`refused ${(error as NodeJS.ErrnoException).code ?? error.message}`));
  });
}

function waitForLine(log: LogSink, match: (line: Record<string, unknown>) => boolean, timeoutMs = 20_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const line = log.lines().find(match);
      if (line === undefined) return;
      clearTimeout(timer);
      log.stream.off('line', check);
      resolve(line);
    };
    const timer = setTimeout(() => {
      log.stream.off('line', check);
      reject(new Error(`no such log line within ${timeoutMs} ms; last: ${JSON.stringify(log.lines().slice(-3))}`));
    }, timeoutMs);
    log.stream.on('line', check);
    check();
  });
}

async function scratch(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'twotier-acme-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

// Port 1 on loopback: nothing listens there, the connection is refused at once.
const UNREACHABLE = 'https://127.0.0.1:1/directory';
const acmeEnv = (dir: string): Record<string, string> => ({
  WEB_TLS: 'acme', WEB_TLS_PORT: '0', WEB_TLS_DIR: dir, WEB_ACME_DIRECTORY: UNREACHABLE, WEB_SERVER_NAMES: 'a.test', WEB_ACME_RETRY_MIN_MS: '3600000',
});

t.test('bad acme settings are refused naming the setting', async (t) => {
  const base = { WEB_TLS: 'acme', WEB_SERVER_NAMES: 'a.test', WEB_ACME_DIRECTORY: 'https://ca.test/directory' };
  t.ok(loadConfig(undefined, base), 'a directory and a name are enough');
  t.throws(() => loadConfig(undefined, { ...base, WEB_ACME_DIRECTORY: '' }), { name: 'ConfigError', key: 'WEB_ACME_DIRECTORY' }, 'no directory');
  t.throws(() => loadConfig(undefined, { ...base, WEB_ACME_DIRECTORY: 'http://ca.test/directory' }), { name: 'ConfigError', key: 'WEB_ACME_DIRECTORY' }, 'plain http (RFC 8555 §6.1)');
  t.throws(() => loadConfig(undefined, { ...base, WEB_ACME_DIRECTORY: 'not a url' }), { name: 'ConfigError', key: 'WEB_ACME_DIRECTORY' });
  t.throws(() => loadConfig(undefined, { ...base, WEB_SERVER_NAMES: '' }), { name: 'ConfigError', key: 'WEB_SERVER_NAMES' }, 'no names');
  t.throws(() => loadConfig(undefined, { ...base, WEB_SERVER_NAMES: 'a.test,192.0.2.7' }), { name: 'ConfigError', key: 'WEB_SERVER_NAMES' }, 'an IP address');
  t.throws(() => loadConfig(undefined, { ...base, WEB_WORKERS: '2' }), { name: 'ConfigError', key: 'WEB_WORKERS' }, 'one ACME client per process');
  t.throws(() => loadConfig(undefined, { ...base, WEB_ACME_EMAIL: 'nobody' }), { name: 'ConfigError', key: 'WEB_ACME_EMAIL' });
  t.throws(() => loadConfig(undefined, { ...base, WEB_ACME_RETRY_MIN_MS: '5000', WEB_ACME_RETRY_MAX_MS: '1000' }), { name: 'ConfigError', key: 'WEB_ACME_RETRY_MAX_MS' });
  t.throws(() => loadConfig(undefined, { WEB_TLS: 'letsencrypt' }), { name: 'ConfigError', key: 'WEB_TLS' });
});

t.test('renewal point: 2/3 of the lifetime, or N days before expiry when earlier', async (t) => {
  const from = new Date('2026-01-01T00:00:00Z');
  const to = new Date('2026-04-01T00:00:00Z'); // 90 days
  t.equal(renewalPoint(from, to, 0).toISOString(), '2026-03-02T00:00:00.000Z', '60 of 90 days');
  t.equal(renewalPoint(from, to, 45).toISOString(), '2026-02-15T00:00:00.000Z', '45 days before expiry is earlier');
  t.equal(renewalPoint(from, to, 10).toISOString(), '2026-03-02T00:00:00.000Z', '10 days before is later: 2/3 wins');
});

t.test('HTTP-01: only pending tokens, before the redirect; an unreachable directory is one line', async (t) => {
  const dir = await scratch(t);
  const files = createFakeHandler('static');
  const { web, port, log } = await startWeb(t, { handlers: { static: files }, env: acmeEnv(dir) });
  const acme = web.tls?.acme;
  if (acme === undefined) throw new Error('no ACME client in acme mode');
  await acme.idle();
  const failed = await waitForLine(log, (line) => typeof line['msg'] === 'string' && line['msg'].startsWith('tls acme: order failed'));
  t.match(failed['msg'], /cannot reach the ACME directory https:\/\/127\.0\.0\.1:1\/directory \(ECONNREFUSED/, 'says which directory and why');
  t.match(failed['msg'], /no certificate yet/, 'says what is served meanwhile');
  t.equal(failed['retryInMs'], 3_600_000, 'retries after WEB_ACME_RETRY_MIN_MS');
  t.match(await handshake(web.tlsAddress()?.port ?? 0, (await makeCa()).certPem), /^refused/, 'no certificate yet: the HTTPS port refuses handshakes');
  t.equal((await send(port, '/healthz')).status, 200, 'the plain listener keeps serving');
  t.equal((await send(port, '/page')).status, 301, 'and redirects the rest to https');

  const token = 'LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0';
  const keyAuthorization = `${token}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI`;
  acme.challenges.add(token, keyAuthorization);
  const good = await send(port, `/.well-known/acme-challenge/${token}`);
  t.equal(good.status, 200, 'a pending token is answered on the plain listener, not redirected');
  t.equal(good.body, keyAuthorization, 'with its key authorization (RFC 8555 §8.3)');
  t.match(good.headers['content-type'], /^text\/plain/);
  const head = await send(port, `/.well-known/acme-challenge/${token}`, 'HEAD');
  t.same([head.status, head.body, head.headers['content-length']], [200, '', String(keyAuthorization.length)], 'HEAD: the length, no body');

  const hostile = [
    '/.well-known/acme-challenge/',
    '/.well-known/acme-challenge/Other0Token0That0Is0Not0Pending0000000000',
    `/.well-known/acme-challenge/${token.toLowerCase()}`,
    `/.well-known/acme-challenge/${token}/`,
    `/.well-known/acme-challenge/${token}%00`,
    `/.well-known/acme-challenge/${token}/../${token}`,
    '/.well-known/acme-challenge/../../package.json',
    '/.well-known/acme-challenge/..%2f..%2fpackage.json',
    '/.well-known/acme-challenge/%2e%2e/%2e%2e/etc/passwd',
    `/.well-known/acme-challenge/${'A'.repeat(5000)}`,
  ];
  for (const path of hostile) {
    const answer = await send(port, path);
    t.not(answer.status, 200, `${path.slice(0, 80)}: not answered`);
    t.notMatch(answer.body, keyAuthorization, 'never the key authorization');
  }
  t.equal((await send(port, '/.well-known/acme-challenge/../../package.json')).status, 400, 'dot segments: 400 before any handler (classify)');
  t.equal(files.calls.length, 0, 'nothing under the challenge prefix reached the static files');
  const post = await send(port, `/.well-known/acme-challenge/${token}`, 'POST', 'x=1');
  t.same([post.status, post.headers['allow']], [405, 'GET, HEAD'], 'POST: 405');

  acme.challenges.remove(token);
  t.equal((await send(port, `/.well-known/acme-challenge/${token}`)).status, 404, 'a settled token is gone');
  t.throws(() => acme.challenges.add('../../etc/passwd', 'x'), /not base64url/, 'a token that is not base64url is refused');
  t.equal(files.calls.length, 0);
});

t.test('a stored certificate is served at start without ordering', async (t) => {
  const dir = await scratch(t);
  const ca = await makeCa();
  const leaf = await makeLeaf(ca, ['a.test']);
  await mkdir(join(dir, 'acme'), { recursive: true });
  await writeFile(join(dir, 'acme', 'cert.pem'), leaf.certPem, { mode: 0o600 });
  await writeFile(join(dir, 'acme', 'cert-key.pem'), leaf.keyPem, { mode: 0o600 });
  const { web, log } = await startWeb(t, { handlers: { static: createFakeHandler('static') }, env: acmeEnv(dir) });
  const served = await handshake(web.tlsAddress()?.port ?? 0, ca.certPem);
  t.type(served, 'object', 'the stored certificate verifies against its CA');
  t.match((served as PeerCertificate).subjectaltname, /DNS:a\.test/);
  await web.tls?.acme?.idle();
  t.ok(log.lines().some((line) => line['msg'] === 'tls acme: using the stored certificate'), 'says it uses the stored one');
  t.notOk(log.lines().some((line) => line['msg'] === 'tls acme: ordering a certificate'), 'and orders nothing on restart');
  t.ok(log.lines().some((line) => line['msg'] === 'tls acme: next order to renew'), 'a renewal timer is set');
  await t.rejects(stat(join(dir, 'acme', 'account-key.pem')), { code: 'ENOENT' }, 'no account created');
});
