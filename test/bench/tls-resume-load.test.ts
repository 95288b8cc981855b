/**
 * bench/tls-resume-load.ts, the resumed-handshake load generator (issue 15): against a local
 * tls.createServer it offers each loop's last ticket, the server sees the resumptions the generator
 * counts, and a server that resumes nothing gives a row that says so instead of passing as resumed.
 */
import t, { type Test } from 'tap';
import { constants } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';
import { distPath } from '../../bench/environment.js';
import type { Progress } from '../../bench/progress.js';
import type { BenchFlags } from '../../bench/result-schema.js';
import { runBench } from '../../bench/run.js';
import type { Scenario } from '../../bench/scenarios.js';
import { MIN_RESUMED_SHARE, resumptionVerdict, runTlsResumeLoad, type TlsVersion } from '../../bench/tls-resume-load.js';
import { makeCa, makeLeaf } from '../helpers/tls-certs.js';

const child = distPath('bench', 'load-child.js');
const needsBuild = { skip: existsSync(child) ? false : `${child} is missing: run npm run build` };
const silent: Progress = { scenario: () => {}, phase: () => {}, tick: () => {}, done: () => {} };

const ca = await makeCa();
const leaf = await makeLeaf(ca, ['localhost']);

interface Seen { answered: number; reused: number; paths: Set<string> }

/** A server that answers one request per connection and closes, counting what it saw. */
async function serve(t: Test, extra: { maxVersion?: TlsVersion; secureOptions?: number } = {}): Promise<{ port: number; seen: Seen }> {
  const seen: Seen = { answered: 0, reused: 0, paths: new Set() };
  const server = createServer({ cert: leaf.certPem, key: leaf.keyPem, ...extra }, (socket: TLSSocket) => {
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const path = /^GET (\S+) HTTP\/1\.1\r\n/.exec(head)?.[1] ?? '';
      seen.paths.add(path);
      seen.answered += 1;
      if (socket.isSessionReused()) seen.reused += 1;
      const status = path === '/missing' ? '404 Not Found' : '200 OK';
      socket.end(`HTTP/1.1 ${status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok`);
    });
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as AddressInfo).port, seen };
}

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  t.test(`${version} tickets: each loop resumes its previous session, counts match the server's`, async (t) => {
    const { port, seen } = await serve(t);
    let ticks = 0;
    let measuring = 0;
    const result = await runTlsResumeLoad({
      url: `https://127.0.0.1:${port}/1k.txt`, ca: ca.certPem, servername: 'localhost', maxVersion: version,
      connections: 2, warmupSec: 0, durationSec: 1, onMeasuring: () => (measuring += 1), onTick: () => (ticks += 1),
    });
    t.equal(measuring, 1);
    t.equal(result.errors, 0);
    t.equal(result.non2xx, 0);
    t.ok(result.connections >= 4, `several connections per loop (${result.connections})`);
    t.equal(result.connections, seen.answered, 'every answered connection counted once');
    t.equal(result.resumed, seen.reused, 'resumed as the server saw it');
    // Only each loop's first connection has no session to offer.
    t.ok(result.resumed >= result.connections - 2, `${result.resumed} of ${result.connections} resumed`);
    t.same([...seen.paths], ['/1k.txt']);
    t.ok(result.bytes > 0 && result.latencyMs.max >= result.latencyMs.p50);
    t.equal(resumptionVerdict(result).ok, true);
    t.ok(ticks <= 2);
  });
}

t.test('a warm-up is not counted, and the loops keep their sessions across it', async (t) => {
  const { port, seen } = await serve(t);
  const result = await runTlsResumeLoad({ url: `https://127.0.0.1:${port}/x`, ca: ca.certPem, servername: 'localhost', connections: 1, warmupSec: 1, durationSec: 1 });
  t.ok(seen.answered > result.connections, `warm-up connections (${seen.answered - result.connections}) left out`);
  t.ok(result.connections >= 1);
  // The loop's only full handshake was in the warm-up (unless it completed none there).
  t.ok(result.resumed >= result.connections - 1);
});

t.test('a server that resumes nothing: the row says so; non-2xx are counted', async (t) => {
  // TLS 1.2 without tickets and without a session cache (Node's server keeps none unless asked): every handshake is full.
  const { port, seen } = await serve(t, { maxVersion: 'TLSv1.2', secureOptions: constants.SSL_OP_NO_TICKET });
  const result = await runTlsResumeLoad({ url: `https://127.0.0.1:${port}/missing`, ca: ca.certPem, servername: 'localhost', connections: 2, warmupSec: 0, durationSec: 1 });
  t.equal(result.resumed, 0);
  t.equal(seen.reused, 0);
  t.equal(result.non2xx, result.connections);
  const verdict = resumptionVerdict(result);
  t.equal(verdict.ok, false);
  if (!verdict.ok) t.match(verdict.reason, /not a resumed-handshake figure: resumed 0 of \d+ handshakes \(0\.0%\)/);
});

t.test('the verdict: at least 90% resumed passes with its figures, below fails', async (t) => {
  t.equal(MIN_RESUMED_SHARE, 0.9);
  t.same(resumptionVerdict({ connections: 1000, resumed: 990, seconds: 2, clientCpuShare: 0.5 }), { ok: true, note: 'resumed 990 of 1000 handshakes (99.0%), 500 conn/s, load generator CPU 50%' });
  t.equal(resumptionVerdict({ connections: 1000, resumed: 899, seconds: 2, clientCpuShare: 0.5 }).ok, false);
  t.equal(resumptionVerdict({ connections: 0, resumed: 0, seconds: 2, clientCpuShare: 0 }).ok, false);
});

t.test('an http:// URL is refused', async (t) => {
  await t.rejects(runTlsResumeLoad({ url: 'http://127.0.0.1:9/', ca: ca.certPem, servername: 'localhost', connections: 1, warmupSec: 0, durationSec: 1 }), /needs an https:\/\/ URL/);
});

t.test('through the bench: the row carries its resumption, and a row that resumed too little fails', needsBuild, async (t) => {
  const resuming = await serve(t);
  const refusing = await serve(t, { maxVersion: 'TLSv1.2', secureOptions: constants.SSL_OP_NO_TICKET });
  const row = (name: string, port: number): Scenario => ({
    name,
    description: name,
    skipReason: () => null,
    start: async () => ({ url: `https://127.0.0.1:${port}/1k.txt`, servedBy: null, ca: ca.certPem, tlsResume: { ca: ca.certPem, servername: 'localhost' }, pids: [], close: async () => {} }),
  });
  const flags: BenchFlags = { quick: true, durationSec: 1, warmupSec: 0, connections: 2, pipelining: 1, maxWorkers: 1, scenarios: [], pin: false };
  const result = await runBench({
    flags, scenarios: [row('resumes', resuming.port), row('refuses', refusing.port)], root: process.cwd(), pinning: { servers: null, loadGenerator: null, tool: null }, nginxPath: null, serverEnv: {},
    machine: { node: process.version, platform: 'linux', cpuModel: 'test', cpuCount: 1, totalMemMiB: 1, loadAverage1m: 0 }, commit: 'test', progress: silent,
  });
  const [ok, refused] = result.scenarios;
  t.equal(ok?.status, 'ok', ok?.reason ?? '');
  t.ok((ok?.requests ?? 0) >= 4 && ok?.requests === ok?.tlsResumption?.connections);
  t.ok((ok?.tlsResumption?.resumed ?? 0) >= (ok?.requests ?? 0) - 2);
  // The answer check's connection is one more than the load's.
  t.equal(resuming.seen.answered, (ok?.requests ?? 0) + 1);
  t.match(ok?.description, /^resumes \(resumed \d+ of \d+ handshakes \(\d+\.\d%\), \d+ conn\/s, load generator CPU \d+%\)$/);
  t.equal(refused?.status, 'failed');
  t.match(refused?.reason, /^not a resumed-handshake figure: resumed 0 of \d+ handshakes/);
});
