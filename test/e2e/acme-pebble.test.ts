/**
 * WEB_TLS=acme end to end against Pebble, Let's Encrypt's test ACME server (Debian `pebble`,
 * with `pebble-challtestsrv` as its DNS), issue 15. Two network namespaces on one bridge
 * (198.18.9.0/24, RFC 2544 space): the ACME box runs Pebble and its DNS, which answers every
 * name with the web box's address; the web box runs the real web tier on ports 80/443 (fixed
 * ports are safe inside a namespace). HTTP-01 is validated for real (Pebble's VA fetches
 * http://web.twotier.test/.well-known/acme-challenge/… from the web box; not its always-valid
 * switch; authorization reuse off so the renewal validates again). Checked: the certificate is
 * obtained and served over https, verifying against Pebble's root from its management endpoint;
 * files 0600; a renewal of a short-lived certificate swapped in without a restart; a restart
 * reuses the stored certificate without ordering; a refused name and a failed validation are
 * each one clear line and the plain listener keeps serving.
 */
import t, { type Test } from 'tap';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { get as httpGet, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { followChild } from '../helpers/child-lines.js';
import { connectBoxes, createNetns, netnsSkipReason, uniqueTag, type Netns } from '../helpers/netns.js';
import { makeCa, makeLeaf } from '../helpers/tls-certs.js';
import { WEB_MAIN } from '../helpers/web-tier.js';

function pebbleMissing(): string | false {
  try {
    execFileSync('sh', ['-c', 'command -v pebble && command -v pebble-challtestsrv'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'pebble is not installed (apt-get install -y pebble)';
  }
}
const skip = netnsSkipReason() || pebbleMissing() || (existsSync(WEB_MAIN) ? false : 'dist/ is not built (npx tsc -p tsconfig.build.json)');

const NET = { host: '198.18.9.1', acme: '198.18.9.2', web: '198.18.9.10' } as const;
const NAME = 'web.twotier.test';
const BLOCKED = 'blocked.twotier.test';
/** A name pebble-challtestsrv points at the ACME box, so HTTP-01 fails for real. */
const ASTRAY = 'astray.twotier.test';
/** Pebble's certificates live this long: renewal at 2/3 comes within the test. */
const VALIDITY_SEC = 45;

type Line = Record<string, unknown>;
interface Box {
  readonly child: ChildProcess;
  tail(): string;
  /** The first line (JSON parsed, else { msg: text }) after `from` that matches. */
  seen(match: (line: Line) => boolean, timeoutMs?: number, from?: number): Promise<Line>;
  count(): number;
  lines(): readonly Line[];
  stop(): Promise<void>;
}

function launch(t: Test, netns: Netns, command: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Box {
  // Pebble and its DNS log as text on stderr; the web tier as JSON on stdout: one list of lines.
  const box = followChild(netns.spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] }), { textKey: 'msg', stderrLines: true, waitMs: 60_000, name: command });
  const { child, exited } = box;
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  t.teardown(stop);
  return {
    child,
    stop,
    count: () => box.lines.length,
    lines: () => box.lines,
    tail: box.tail,
    seen: (match, timeoutMs, from = 0) => box.waitForLine((line, index) => index >= from && match(line), timeoutMs),
  };
}

const msg = (text: string) => (line: Line): boolean => line['msg'] === text;
const msgStarts = (text: string) => (line: Line): boolean => typeof line['msg'] === 'string' && line['msg'].startsWith(text);

function httpsText(url: string, ca: string, servername?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, agent: false, ...(servername === undefined ? {} : { servername, headers: { Host: servername } }) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`timeout ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

function httpStatus(url: string, host = NAME): Promise<number> {
  return new Promise((resolve, reject) => {
    // The Host is a configured server name (another one is 421, RFC 9110 §15.5.20).
    const req = httpGet(url, { agent: false, headers: { Host: host } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`timeout ${url}`)));
    req.on('error', reject);
  });
}

function postJson(url: string, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = httpRequest(url, { method: 'POST', agent: false, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`timeout ${url}`)));
    req.on('error', reject);
    req.end(text);
  });
}

/** The certificate the web box shows a new connection for NAME, verified against `ca` (no rejectUnauthorized: false). */
function served(ca: string): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: NET.web, port: 443, servername: NAME, ca }, () => {
      resolve(socket.getPeerCertificate());
      socket.end();
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error('timeout')));
    socket.on('error', reject);
  });
}

t.test('a certificate from Pebble over real HTTP-01, served, renewed, reused after a restart', { skip, timeout: 400_000 }, async (t) => {
  const tag = uniqueTag();
  const acmeNs = await createNetns(t, `tt${tag}acme`);
  const webNs = await createNetns(t, `tt${tag}web`);
  await connectBoxes(t, tag, [{ netns: acmeNs, address: NET.acme }, { netns: webNs, address: NET.web }], { hostAddress: NET.host });
  const work = await mkdtemp(join(tmpdir(), 'twotier-pebble-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));

  // Pebble's own HTTPS (the ACME API and management): a test CA made here (Debian ships no test certificates).
  const wfeCa = await makeCa('pebble wfe test CA');
  const wfe = await makeLeaf(wfeCa, [NET.acme, 'localhost']);
  const wfeCaFile = join(work, 'wfe-ca.pem');
  await writeFile(wfeCaFile, wfeCa.certPem);
  await writeFile(join(work, 'wfe.pem'), wfe.certPem);
  await writeFile(join(work, 'wfe-key.pem'), wfe.keyPem, { mode: 0o600 });
  await writeFile(join(work, 'pebble.json'), JSON.stringify({
    pebble: {
      listenAddress: `${NET.acme}:14000`, managementListenAddress: `${NET.acme}:15000`,
      certificate: join(work, 'wfe.pem'), privateKey: join(work, 'wfe-key.pem'),
      // HTTP-01 is fetched from port 80 of the name's address (RFC 8555 §8.3): the web box's plain listener.
      httpPort: 80, tlsPort: 443, ocspResponderURL: '', externalAccountBindingRequired: false,
      domainBlocklist: [BLOCKED], certificateValidityPeriod: VALIDITY_SEC,
    },
  }));
  const base = { PATH: process.env['PATH'] ?? '/usr/bin:/bin' };
  const dns = launch(t, acmeNs, 'pebble-challtestsrv', ['-defaultIPv4', NET.web, '-defaultIPv6', '', '-dns01', `${NET.acme}:8053`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `${NET.acme}:8055`], base, work);
  await dns.seen((line) => /Starting management server/i.test(String(line['msg'])), 30_000).catch(() => undefined);
  const pebble = launch(t, acmeNs, 'pebble', ['-config', join(work, 'pebble.json'), '-dnsserver', `${NET.acme}:8053`], {
    ...base, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0',
  }, work);
  await pebble.seen((line) => /ACME directory available/i.test(String(line['msg'])), 30_000);

  const tlsDir = join(work, 'tls');
  const webEnv = {
    ...base, LOG_LEVEL: 'info', LOG_PRETTY: '0', NODE_EXTRA_CA_CERTS: wfeCaFile,
    WEB_HOST: NET.web, WEB_PORT: '80', WEB_TLS: 'acme', WEB_TLS_PORT: '443', WEB_TLS_DIR: tlsDir,
    WEB_SERVER_NAMES: NAME, WEB_ACME_DIRECTORY: `https://${NET.acme}:14000/dir`, WEB_ACME_EMAIL: 'ops@twotier.test',
    WEB_ACME_RETRY_MIN_MS: '1000', WEB_ACME_RETRY_MAX_MS: '5000',
  };
  let web = launch(t, webNs, process.execPath, [WEB_MAIN], webEnv, work);
  await web.seen(msg('listening'));
  t.equal(await httpStatus(`http://${NET.web}:80/healthz`), 200, 'the plain listener serves while the order runs');
  const first = await web.seen(msg('tls acme: certificate obtained'), 90_000);
  t.ok(first, 'obtained over HTTP-01');

  // Pebble's root (and the chain's intermediate comes with the served chain) from its management endpoint.
  const root = (await httpsText(`https://${NET.acme}:15000/roots/0`, wfeCa.certPem)).body;
  t.match(root, /BEGIN CERTIFICATE/, 'Pebble\'s root');
  const cert1 = await served(root);
  t.match(cert1.subjectaltname, `DNS:${NAME}`, 'the served certificate names the host and verifies against Pebble\'s root');
  const page = await httpsText(`https://${NET.web}:443/healthz`, root, NAME);
  t.equal(page.status, 200, 'https serves with it');
  for (const file of ['account-key.pem', 'cert.pem', 'cert-key.pem']) {
    t.equal((await stat(join(tlsDir, 'acme', file))).mode & 0o777, 0o600, `${file} is 0600`);
  }
  t.equal((await stat(join(tlsDir, 'acme'))).mode & 0o777, 0o700, 'acme/ is 0700');

  // Renewal at 2/3 of VALIDITY_SEC: a new certificate on new connections, no restart.
  const from = web.count();
  const renewed = await web.seen(msg('tls acme: certificate obtained'), (VALIDITY_SEC + 60) * 1000, from);
  t.ok(renewed, 'renewed ahead of expiry');
  const cert2 = await served(root);
  t.not(cert2.serialNumber, cert1.serialNumber, 'new connections see the renewed certificate');
  t.equal(web.child.exitCode, null, 'without a restart');

  // A restart reuses what is stored: no order.
  const storedCert = await readFile(join(tlsDir, 'acme', 'cert.pem'), 'utf8');
  await web.stop();
  web = launch(t, webNs, process.execPath, [WEB_MAIN], webEnv, work);
  await web.seen(msg('listening tls'));
  t.ok(web.lines().some(msg('tls acme: using the stored certificate')), 'the restart uses the stored certificate');
  t.notOk(web.lines().some(msg('tls acme: ordering a certificate')), 'and orders nothing');
  t.equal((await served(root)).serialNumber, cert2.serialNumber, 'the same certificate is served');
  await web.stop();

  // A name the CA refuses: one clear line, the plain listener keeps serving, nothing stored is touched.
  const blockedDir = join(work, 'tls-blocked');
  const blocked = launch(t, webNs, process.execPath, [WEB_MAIN], { ...webEnv, WEB_TLS_DIR: blockedDir, WEB_SERVER_NAMES: BLOCKED, WEB_ACME_RETRY_MIN_MS: '600000', WEB_ACME_RETRY_MAX_MS: '600000' }, work);
  const refused = await blocked.seen(msgStarts('tls acme: order failed'), 60_000);
  t.match(refused['msg'], /rejectedIdentifier|blocked|policy/i, 'the CA\'s reason is in the line');
  t.match(refused['msg'], /no certificate yet/, 'says what is served meanwhile');
  t.equal(await httpStatus(`http://${NET.web}:80/healthz`, BLOCKED).catch((error: Error) => error.message), 200, 'the plain listener keeps serving');
  t.comment(String(refused['msg']));
  t.equal(await readFile(join(tlsDir, 'acme', 'cert.pem'), 'utf8'), storedCert, 'the other store is untouched');
  await blocked.stop();

  // A failed HTTP-01 validation: the name resolves to the ACME box itself, where nothing answers on port 80.
  await postJson(`http://${NET.acme}:8055/add-a`, { host: `${ASTRAY}.`, addresses: [NET.acme] });
  const astray = launch(t, webNs, process.execPath, [WEB_MAIN], { ...webEnv, WEB_TLS_DIR: join(work, 'tls-astray'), WEB_SERVER_NAMES: ASTRAY, WEB_ACME_RETRY_MIN_MS: '600000', WEB_ACME_RETRY_MAX_MS: '600000' }, work);
  const invalid = await astray.seen(msgStarts('tls acme: order failed'), 90_000);
  t.comment(String(invalid['msg']));
  t.match(invalid['msg'], /connection|refused|connect|invalid/i, 'the validation failure is in the line');
  t.equal(await httpStatus(`http://${NET.web}:80/healthz`, ASTRAY).catch((error: Error) => error.message), 200, 'the plain listener keeps serving');
  await astray.stop();
  t.equal(pebble.child.exitCode, null, 'Pebble ran throughout');
  void dns;
});
