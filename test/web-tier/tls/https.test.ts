/**
 * HTTPS at the edge (issue 15), in process: the TLS listener enters the same pipeline as the plain
 * one; `internal` (local CA) and `files` (SNI, default, reload keeping the old set on bad input);
 * the plain listener's redirects; HSTS over TLS only; TLS 1.2/1.3 and forward-secret suites only.
 * Every client verifies against the CA: no rejectUnauthorized: false anywhere.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, rename } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, type PeerCertificate } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startUpstream } from '../../helpers/upstream.js';
import { createFakeHandler, startWeb } from '../../helpers/web-tier.js';
import { makeCa, makeLeaf } from '../../helpers/tls-certs.js';

interface Answer { status: number; headers: IncomingHttpHeaders; body: string }

function get(kind: 'http' | 'https', port: number, path: string, options: { method?: string; host?: string; servername?: string; ca?: string; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const send = kind === 'https' ? httpsRequest : httpRequest;
    const req = send({
      host: '127.0.0.1', port, path, method: options.method ?? 'GET', agent: false,
      headers: { Host: options.host ?? 'localhost', Accept: 'application/json', ...(options.body === undefined ? {} : { 'Content-Length': String(Buffer.byteLength(options.body)) }) },
      ...(kind === 'https' ? { ca: options.ca, servername: options.servername ?? 'localhost' } : {}),
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The certificate a new connection is shown for `servername` (verified against `ca`). */
function peerCert(port: number, servername: string | undefined, ca: string): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, ...(servername === undefined ? { checkServerIdentity: () => undefined } : { servername }) }, () => {
      resolve(socket.getPeerCertificate());
      socket.end();
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error('timeout')));
    socket.on('error', reject);
  });
}

function handshake(port: number, options: { maxVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2'; minVersion?: 'TLSv1' | 'TLSv1.1'; ciphers?: string; ca: string }): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ...options }, () => {
      resolve(`ok ${socket.getProtocol()} ${socket.getCipher().name}`);
      socket.end();
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error('timeout')));
    socket.on('error', (error) => resolve(`refused ${(error as NodeJS.ErrnoException).code ?? error.message}`));
  });
}

async function scratch(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'twotier-tls-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('internal: a local CA under the TLS dir, the same pipeline on both listeners, the proxy says https', async (t) => {
  const dir = await scratch(t);
  const upstream = await startUpstream(t, (req, res) => {
    req.resume();
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ proto: req.headers['x-forwarded-proto'], forwarded: req.headers['forwarded'] }));
  });
  const { web } = await startWeb(t, {
    handlers: { static: createFakeHandler('static') },
    env: { WEB_TLS: 'internal', WEB_TLS_PORT: '0', WEB_TLS_DIR: join(dir, 'tls'), APP_UPSTREAMS: upstream.url, WEB_PROXY_HEALTH_INTERVAL_MS: '0' },
  });
  const tlsPort = web.tlsAddress()?.port ?? 0;
  const ca = await readFile(join(dir, 'tls', 'ca.pem'), 'utf8');
  const { stat } = await import('node:fs/promises');
  t.equal((await stat(join(dir, 'tls', 'ca-key.pem'))).mode & 0o777, 0o600, 'the CA key is readable by the owner only');
  t.equal((await stat(join(dir, 'tls', 'leaf-key.pem'))).mode & 0o777, 0o600, 'the leaf key too');

  const secure = await get('https', tlsPort, '/api/x', { ca });
  t.equal(secure.status, 200);
  t.match(JSON.parse(secure.body), { proto: 'https', forwarded: /proto=https/ }, 'the proxy marks a TLS request https');
  const staticAnswer = await get('https', tlsPort, '/index.html', { ca });
  t.equal(staticAnswer.status, 200, 'static over TLS');
  t.equal((await get('https', tlsPort, '/healthz', { ca })).status, 200, 'health over TLS');
  for (const name of ['localhost', '127.0.0.1', '::1']) {
    const cert = await peerCert(tlsPort, name === 'localhost' ? name : undefined, ca);
    t.match(cert.subjectaltname, name === '::1' ? /IP Address:0:0:0:0:0:0:0:1/ : new RegExp(name === 'localhost' ? 'DNS:localhost' : 'IP Address:127.0.0.1'), `the leaf names ${name}`);
  }
  // curl with --cacert (never -k): the command the banner prints.
  const curl = await new Promise<string>((resolve, reject) => execFile('curl', ['-sS', '--cacert', join(dir, 'tls', 'ca.pem'), '-o', '/dev/null', '-w', '%{http_code} %{ssl_verify_result}', `https://localhost:${tlsPort}/healthz`], (error, stdout) => (error === null ? resolve(stdout) : reject(error))));
  t.equal(curl, '200 0', 'curl --cacert verifies the leaf');

  // A restart reuses the stored CA and leaf: nothing is re-issued.
  const leafBefore = await readFile(join(dir, 'tls', 'leaf.pem'), 'utf8');
  const again = await startWeb(t, { handlers: { static: createFakeHandler('static') }, env: { WEB_TLS: 'internal', WEB_TLS_PORT: '0', WEB_TLS_DIR: join(dir, 'tls') } });
  t.equal(await readFile(join(dir, 'tls', 'leaf.pem'), 'utf8'), leafBefore, 'the stored leaf is reused on restart');
  t.equal((await get('https', again.web.tlsAddress()?.port ?? 0, '/healthz', { ca })).status, 200);
});

t.test('protocols and suites: TLS 1.0/1.1 and suites without forward secrecy are refused', async (t) => {
  const dir = await scratch(t);
  const { web } = await startWeb(t, { handlers: { static: createFakeHandler('static') }, env: { WEB_TLS: 'internal', WEB_TLS_PORT: '0', WEB_TLS_DIR: dir } });
  const port = web.tlsAddress()?.port ?? 0;
  const ca = await readFile(join(dir, 'ca.pem'), 'utf8');
  t.match(await handshake(port, { ca }), /^ok TLSv1\.3 /);
  t.match(await handshake(port, { ca, maxVersion: 'TLSv1.2' }), /^ok TLSv1\.2 ECDHE-ECDSA-AES128-GCM-SHA256$/, 'server preference: the first suite of the list');
  t.match(await handshake(port, { ca, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }), /^refused/, 'TLS 1.1 refused');
  t.match(await handshake(port, { ca, maxVersion: 'TLSv1.2', ciphers: 'AES128-GCM-SHA256:AES256-SHA' }), /^refused/, 'static-RSA suites refused');
});

t.test('redirects from the plain listener and HSTS over TLS only', async (t) => {
  const dir = await scratch(t);
  const { web, port } = await startWeb(t, {
    handlers: { static: createFakeHandler('static'), app: createFakeHandler('app', { healthy: () => true }) },
    env: { WEB_TLS: 'internal', WEB_TLS_PORT: '0', WEB_TLS_DIR: dir, WEB_HSTS_MAX_AGE: '31536000', WEB_SERVER_NAMES: 'a.test,b.test,localhost' },
  });
  const tlsPort = web.tlsAddress()?.port ?? 0;
  const ca = await readFile(join(dir, 'ca.pem'), 'utf8');
  const getRedirect = await get('http', port, '/articles/1?x=1&y=2', { host: 'b.test' });
  t.equal(getRedirect.status, 301);
  t.equal(getRedirect.headers.location, `https://b.test:${tlsPort}/articles/1?x=1&y=2`, 'path and query kept, the matching configured name');
  const head = await get('http', port, '/', { method: 'HEAD', host: 'a.test:8080' });
  t.equal(head.status, 301);
  t.equal(head.headers.location, `https://a.test:${tlsPort}/`);
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    const answer = await get('http', port, '/api/articles/', { method, host: 'a.test', body: '{"title":"x"}' });
    t.equal(answer.status, 308, `${method} → 308 (the method and body are kept)`);
  }
  t.equal((await get('http', port, '/healthz', { host: 'a.test' })).status, 200, '/healthz is served on plain HTTP');
  t.not((await get('http', port, '/.well-known/acme-challenge/token', { host: 'a.test' })).status, 301, 'the ACME challenge path is not redirected');
  t.equal(getRedirect.headers['strict-transport-security'], undefined, 'no HSTS over plain HTTP');
  const secure = await get('https', tlsPort, '/', { ca, host: 'localhost' });
  t.equal(secure.headers['strict-transport-security'], 'max-age=31536000', 'HSTS over TLS');
});

t.test('a redirect never takes its host from an unvalidated Host', async (t) => {
  const dir = await scratch(t);
  const { web, port } = await startWeb(t, { handlers: { static: createFakeHandler('static') }, env: { WEB_TLS: 'internal', WEB_TLS_PORT: '0', WEB_TLS_DIR: dir } });
  const tlsPort = web.tlsAddress()?.port ?? 0;
  const answer = await get('http', port, '/x', { host: 'evil.example' });
  t.equal(answer.status, 301);
  t.equal(answer.headers.location, `https://localhost:${tlsPort}/x`, 'no names configured: localhost, not the Host sent');
  const off = await startWeb(t, { handlers: { static: createFakeHandler('static') }, env: { WEB_TLS: 'internal', WEB_TLS_PORT: '0', WEB_TLS_DIR: dir, WEB_TLS_REDIRECT: 'false' } });
  t.equal((await get('http', off.port, '/x')).status, 200, 'WEB_TLS_REDIRECT=false: both listeners serve');
  const plain = await startWeb(t, { handlers: { static: createFakeHandler('static') } });
  t.equal((await get('http', plain.port, '/x')).status, 200, 'WEB_TLS=off (default): no redirect, no TLS listener');
  t.equal(plain.web.tls, undefined);
});

t.test('files: SNI picks the certificate, a default for unknown names, reload keeps the old set on bad input', async (t) => {
  const dir = await scratch(t);
  const ca = await makeCa();
  const a = await makeLeaf(ca, ['a.test', 'localhost']);
  const b = await makeLeaf(ca, ['b.test', '*.c.test']);
  const files = { aCert: join(dir, 'a.pem'), aKey: join(dir, 'a-key.pem'), bCert: join(dir, 'b.pem'), bKey: join(dir, 'b-key.pem') };
  await Promise.all([writeFile(files.aCert, a.certPem), writeFile(files.aKey, a.keyPem), writeFile(files.bCert, b.certPem), writeFile(files.bKey, b.keyPem)]);
  const { web, port, log } = await startWeb(t, {
    handlers: { static: createFakeHandler('static') },
    env: { WEB_TLS: 'files', WEB_TLS_PORT: '0', WEB_TLS_CERT_FILES: `${files.aCert},${files.bCert}`, WEB_TLS_KEY_FILES: `${files.aKey},${files.bKey}`, WEB_TLS_WATCH_MS: '100' },
  });
  const tlsPort = web.tlsAddress()?.port ?? 0;
  const fingerprint = async (name: string | undefined): Promise<string> => (await peerCert(tlsPort, name, ca.certPem)).fingerprint256;
  const fpA = await fingerprint('a.test');
  const fpB = await fingerprint('b.test');
  t.not(fpA, fpB);
  t.equal(await fingerprint('x.c.test'), fpB, 'a wildcard name');
  t.equal(await fingerprint(undefined), fpA, 'no SNI: the first pair');
  t.equal((await get('https', tlsPort, '/', { ca: ca.certPem, servername: 'b.test', host: 'b.test' })).status, 200);

  const lines = (): string[] => log.lines().map((line) => String(line['msg'] ?? ''));
  const keepLines = (): string[] => lines().filter((line) => line.startsWith('tls: keeping'));
  // A key that does not match: the old set stays, one line names the file.
  const other = await makeLeaf(ca, ['b.test']);
  await writeFile(files.bKey, other.keyPem);
  t.equal(await web.tls?.reloadCertificates(), false);
  t.match(keepLines().at(-1), /b\.pem: the key does not match the certificate/);
  t.equal(await fingerprint('b.test'), fpB, 'the old certificate is still served');
  t.equal((await get('http', port, '/healthz')).status, 200, 'the plain listener keeps serving');
  // Expired.
  const expired = await makeLeaf(ca, ['b.test'], { notBefore: new Date(Date.now() - 86_400_000 * 2), notAfter: new Date(Date.now() - 86_400_000) });
  await Promise.all([writeFile(files.bCert, expired.certPem), writeFile(files.bKey, expired.keyPem)]);
  t.equal(await web.tls?.reloadCertificates(), false);
  t.match(keepLines().at(-1), /b\.pem: the certificate expired at /);
  // Missing key.
  await rm(files.bKey);
  t.equal(await web.tls?.reloadCertificates(), false);
  t.match(keepLines().at(-1), /b-key\.pem: cannot read the key \(ENOENT\)/);
  t.equal(await fingerprint('b.test'), fpB);

  // A good pair renamed into place: picked up by the file watch, new connections see it.
  const renewed = await makeLeaf(ca, ['b.test']);
  await writeFile(`${files.bKey}.new`, renewed.keyPem);
  await writeFile(`${files.bCert}.new`, renewed.certPem);
  await rename(`${files.bKey}.new`, files.bKey);
  await rename(`${files.bCert}.new`, files.bCert);
  const deadline = Date.now() + 15_000;
  let seen = await fingerprint('b.test');
  while (seen === fpB && Date.now() < deadline) {
    await new Promise<void>((resolve) => { const timer = setTimeout(resolve, 100); timer.unref(); });
    seen = await fingerprint('b.test');
  }
  t.not(seen, fpB, 'the renewed certificate is served to new connections');
  t.equal(await fingerprint('a.test'), fpA, 'the other name is unchanged');
});

t.test('files: a bad pair at start fails start with one line', async (t) => {
  const dir = await scratch(t);
  const ca = await makeCa();
  const a = await makeLeaf(ca, ['a.test']);
  await writeFile(join(dir, 'a.pem'), a.certPem);
  await t.rejects(startWeb(t, { env: { WEB_TLS: 'files', WEB_TLS_PORT: '0', WEB_TLS_CERT_FILES: join(dir, 'a.pem'), WEB_TLS_KEY_FILES: join(dir, 'missing.pem') } }), /missing\.pem: cannot read the key \(ENOENT\)/);
  await t.rejects(startWeb(t, { env: { WEB_TLS: 'files' } }), /WEB_TLS_CERT_FILES/);
});
