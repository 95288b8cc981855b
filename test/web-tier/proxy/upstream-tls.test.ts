/**
 * Upstream TLS (issue 15, multi-box): APP_UPSTREAMS=https://… verified against WEB_UPSTREAM_CA,
 * SNI and the identity check from the upstream's configured host (never the client's Host), a
 * certificate that does not verify is a 502 WEB_ERR_UPSTREAM_TLS with a log line naming the
 * reason (never a plain-HTTP fallback), the health checks over TLS, and the config errors.
 * TLS upstreams on 127.0.0.1 port 0 with certificates from the test CA helper (@peculiar/x509).
 */
import t from 'tap';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { ConfigError } from '../../../common/config.js';
import { loadConfig } from '../../../web-tier/config.js';
import { makeCa, makeLeaf, type TestCa } from '../../helpers/tls-certs.js';
import { closeServer, startUpstream, type Teardown } from '../../helpers/upstream.js';
import { createFakeHandler, startWeb } from '../../helpers/web-tier.js';
import { startFront } from './helpers.js';

interface Answer { status: number; body: string }

function get(port: number, path: string, host = 'www.example.test'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false, headers: { Host: host, Accept: 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

interface TlsUpstream { readonly port: number; readonly servernames: (string | false | null)[] }

/** An HTTPS app stand-in that answers with the SNI name it was asked for. */
async function startTlsUpstream(t: Teardown, ca: TestCa, names: readonly string[]): Promise<TlsUpstream> {
  const leaf = await makeLeaf(ca, names);
  const servernames: (string | false | null)[] = [];
  const server = createHttpsServer({ cert: leaf.certPem, key: leaf.keyPem }, (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    const body = JSON.stringify({ path: req.url, servername: (req.socket as TLSSocket).servername, proto: req.headers['x-forwarded-proto'] ?? null });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.on('secureConnection', (socket: TLSSocket) => servernames.push(socket.servername));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => closeServer(server));
  return { port: (server.address() as AddressInfo).port, servernames };
}

async function scratch(t: Teardown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'twotier-upstream-tls-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function caFile(t: Teardown, ca: TestCa): Promise<string> {
  const file = join(await scratch(t), 'upstream-ca.pem');
  await writeFile(file, ca.certPem);
  return file;
}

const QUIET = { WEB_PROXY_HEALTH_INTERVAL_MS: '0', WEB_UPSTREAM_RESOLVE_MS: '0' };

for (const engine of ['plain', 'http-proxy'] as const) {
  t.test(`${engine}: https upstream verified against WEB_UPSTREAM_CA; SNI is the upstream's host, not the client's Host`, async (t) => {
    const ca = await makeCa('upstream CA');
    const upstream = await startTlsUpstream(t, ca, ['localhost']);
    const { port } = await startWeb(t, {
      handlers: { static: createFakeHandler('static') },
      env: { ...QUIET, WEB_PROXY_ENGINE: engine, APP_UPSTREAMS: `https://localhost:${upstream.port}`, WEB_UPSTREAM_CA: await caFile(t, ca) },
    });
    const first = await get(port, '/api/one?x=1', 'evil.example.test');
    t.equal(first.status, 200, first.body);
    const seen = JSON.parse(first.body) as { path: string; servername: string };
    t.equal(seen.path, '/api/one?x=1');
    t.equal(seen.servername, 'localhost', 'SNI from the upstream URL');
    const second = await get(port, '/api/two');
    t.equal(second.status, 200);
    t.same(upstream.servernames, ['localhost'], 'one TLS connection, kept alive for the second request');
  });

  t.test(`${engine}: a certificate from another CA is a 502 WEB_ERR_UPSTREAM_TLS naming the reason`, async (t) => {
    const trusted = await makeCa('the CA the web tier trusts');
    const other = await makeCa('some other CA');
    const upstream = await startTlsUpstream(t, other, ['localhost']);
    const { port, log } = await startWeb(t, {
      handlers: { static: createFakeHandler('static') },
      env: { ...QUIET, WEB_PROXY_ENGINE: engine, APP_UPSTREAMS: `https://localhost:${upstream.port}`, WEB_UPSTREAM_CA: await caFile(t, trusted) },
    });
    const answer = await get(port, '/api/x');
    t.equal(answer.status, 502);
    t.equal((JSON.parse(answer.body) as { error: { code: string } }).error.code, 'WEB_ERR_UPSTREAM_TLS');
    const line = log.lines().find((entry) => entry['code'] === 'WEB_ERR_UPSTREAM_TLS');
    t.ok(line, 'a log line with the code');
    t.match(String(line?.['cause']), /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN)$/, 'the verify error as the cause');
    t.type(line?.['reason'], 'string', 'the reason in words');
  });

  t.test(`${engine}: a certificate for another name is a 502 (hostname mismatch)`, async (t) => {
    const ca = await makeCa('upstream CA');
    const upstream = await startTlsUpstream(t, ca, ['app1.internal']);
    const { port, log } = await startWeb(t, {
      handlers: { static: createFakeHandler('static') },
      env: { ...QUIET, WEB_PROXY_ENGINE: engine, APP_UPSTREAMS: `https://localhost:${upstream.port}`, WEB_UPSTREAM_CA: await caFile(t, ca) },
    });
    const answer = await get(port, '/api/x', `app1.internal:${upstream.port}`);
    t.equal(answer.status, 502, 'the client Host naming the certificate does not help');
    t.equal((JSON.parse(answer.body) as { error: { code: string } }).error.code, 'WEB_ERR_UPSTREAM_TLS');
    const line = log.lines().find((entry) => entry['code'] === 'WEB_ERR_UPSTREAM_TLS');
    t.equal(line?.['cause'], 'ERR_TLS_CERT_ALTNAME_INVALID');
    t.match(String(line?.['reason']), /altnames/);
  });
}

t.test('an IP-literal https upstream is verified against the IP in the certificate, without SNI', async (t) => {
  const ca = await makeCa('upstream CA');
  const upstream = await startTlsUpstream(t, ca, ['127.0.0.1']);
  const { port } = await startWeb(t, {
    handlers: { static: createFakeHandler('static') },
    env: { ...QUIET, APP_UPSTREAMS: `https://127.0.0.1:${upstream.port}`, WEB_UPSTREAM_CA: await caFile(t, ca) },
  });
  const answer = await get(port, '/api/ip');
  t.equal(answer.status, 200, answer.body);
  t.same(upstream.servernames, [false], 'RFC 6066 §3: no IP address in SNI');
});

t.test('a plain-HTTP server behind an https:// upstream is a 502 WEB_ERR_UPSTREAM_TLS, never a plain fallback', async (t) => {
  const ca = await makeCa('upstream CA');
  let served = 0;
  const plain = await startUpstream(t, (req, res) => {
    served += 1;
    req.resume();
    res.end('plain');
  });
  const { port } = await startWeb(t, {
    handlers: { static: createFakeHandler('static') },
    env: { ...QUIET, APP_UPSTREAMS: `https://127.0.0.1:${plain.port}`, WEB_UPSTREAM_CA: await caFile(t, ca) },
  });
  const answer = await get(port, '/api/x');
  t.equal(answer.status, 502);
  t.equal((JSON.parse(answer.body) as { error: { code: string } }).error.code, 'WEB_ERR_UPSTREAM_TLS');
  t.equal(served, 0, 'no request ever answered over plain HTTP');
});

t.test('active health checks go over TLS too: a verified upstream is up, an unverified one down with the TLS reason', async (t) => {
  const ca = await makeCa('upstream CA');
  const other = await makeCa('other CA');
  const good = await startTlsUpstream(t, ca, ['localhost']);
  const bad = await startTlsUpstream(t, other, ['localhost']);
  const front = await startFront(t, { upstreams: [`https://localhost:${good.port}`, `https://localhost:${bad.port}`], upstreamCaFile: await caFile(t, ca), upstreamResolveMs: 0, activeHealth: { intervalMs: 60_000 } });
  await front.handler.checkUpstreams();
  const states = front.handler.upstreamStates();
  t.equal(states[0]?.state, 'up');
  t.equal(states[1]?.state, 'down');
  t.match(String(states[1]?.lastError), /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN)$/);
});

t.test('config errors name the setting', async (t) => {
  const dir = await scratch(t);
  const notPem = join(dir, 'not-a-ca.pem');
  await writeFile(notPem, 'hello\n');
  const cases: [Record<string, string>, string, RegExp][] = [
    [{ APP_UPSTREAMS: 'https://app1.internal:3443', WEB_UPSTREAM_CA: join(dir, 'missing.pem') }, 'WEB_UPSTREAM_CA', /cannot read/],
    [{ APP_UPSTREAMS: 'https://app1.internal:3443', WEB_UPSTREAM_CA: notPem }, 'WEB_UPSTREAM_CA', /no PEM certificate/],
    [{ APP_UPSTREAMS: 'http://app1.internal:3000,https://app2.internal:3443' }, 'APP_UPSTREAMS', /all http:\/\/ or all https:\/\//],
    [{ APP_UPSTREAMS: 'ftp://app1.internal:3000' }, 'APP_UPSTREAMS', /https?:\/\//],
  ];
  for (const [env, key, message] of cases) {
    const error = (() => {
      try {
        loadConfig(undefined, env);
        return undefined;
      } catch (caught) {
        return caught;
      }
    })();
    t.type(error, ConfigError, JSON.stringify(env));
    t.equal((error as ConfigError).key, key);
    t.match((error as Error).message, message);
  }
  const ok = loadConfig(undefined, { APP_UPSTREAMS: 'https://app1.internal:3443,https://10.0.0.5', WEB_UPSTREAM_CA: '' });
  t.same(ok.proxy.upstreams, ['https://app1.internal:3443', 'https://10.0.0.5'], 'https upstreams accepted; no CA file = node\'s default trust store');
});

t.test('a WebSocket upgrade to an https upstream goes over verified TLS too, never in clear', async (t) => {
  const ca = await makeCa('upstream CA');
  const leaf = await makeLeaf(ca, ['localhost']);
  const upgraded: (string | false | null)[] = [];
  const server = createHttpsServer({ cert: leaf.certPem, key: leaf.keyPem }, (_req, res) => res.end());
  server.on('upgrade', (req: IncomingMessage, socket: import('node:stream').Duplex) => {
    upgraded.push((req.socket as TLSSocket).servername);
    // RFC 6455 §1.3's example key and its accept value.
    socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => closeServer(server));
  const { port } = await startWeb(t, {
    handlers: { static: createFakeHandler('static') },
    env: { ...QUIET, APP_UPSTREAMS: `https://localhost:${(server.address() as AddressInfo).port}`, WEB_UPSTREAM_CA: await caFile(t, ca) },
  });
  const { connect: netConnect } = await import('node:net');
  const head = await new Promise<string>((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1', () => socket.write('GET /api/live HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'));
    let text = '';
    socket.setTimeout(10_000, () => socket.destroy(new Error('timeout')));
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n\r\n')) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('error', reject);
  });
  t.match(head, /^HTTP\/1\.1 101 /, head.split('\r\n')[0]);
  t.same(upgraded, ['localhost'], 'the upgrade reached the upstream over TLS, SNI from the upstream URL');
});
