/**
 * bench/node-https-server.ts, the node:https-alone row's server (issue 15): it serves the one file
 * over TLS with the web tier's settings, TLS 1.3 sessions resume under the resumed-handshake load
 * (a row below 90% resumed would fail), and anything else is a 404.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { distPath } from '../../bench/environment.js';
import { httpsGet } from '../../bench/https-rows.js';
import { launchServer } from '../../bench/launcher.js';
import { MIN_RESUMED_SHARE, runTlsResumeLoad } from '../../bench/tls-resume-load.js';
import { makeCa, makeLeaf } from '../helpers/tls-certs.js';

const server = distPath('bench', 'node-https-server.js');

t.test('node:https alone: the file over TLS, resumed sessions, 404 for other paths', { skip: existsSync(server) ? false : `${server} is missing: run npm run build` }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'node-https-server-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = await makeCa();
  const leaf = await makeLeaf(ca, ['localhost']);
  await writeFile(join(dir, 'leaf.pem'), leaf.certPem);
  await writeFile(join(dir, 'leaf-key.pem'), leaf.keyPem);
  await writeFile(join(dir, '1k.txt'), 'x'.repeat(1024));
  const launched = await launchServer({
    name: 'node:https alone',
    command: process.execPath,
    args: [server, join(dir, 'leaf.pem'), join(dir, 'leaf-key.pem'), dir, '/1k.txt'],
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    cwd: dir,
    cpuList: null,
  });
  t.teardown(() => launched.close());
  const base = `https://127.0.0.1:${launched.port}`;
  const file = await httpsGet(`${base}/1k.txt`, ca.certPem);
  t.equal(file.status, 200);
  t.equal(file.body.length, 1024);
  t.equal((await httpsGet(`${base}/other`, ca.certPem)).status, 404);
  const load = await runTlsResumeLoad({ url: `${base}/1k.txt`, ca: ca.certPem, servername: 'localhost', maxVersion: 'TLSv1.3', connections: 2, warmupSec: 0, durationSec: 1 });
  t.ok(load.connections > 0, 'connections completed');
  t.equal(load.errors, 0);
  t.equal(load.non2xx, 0);
  // Each loop's first connection is a full handshake; every later one offers a ticket.
  t.ok(load.resumed / load.connections >= MIN_RESUMED_SHARE, `resumed ${load.resumed} of ${load.connections}`);
});
