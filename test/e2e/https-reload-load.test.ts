/**
 * Certificate replacement under load (issue 15): autocannon keeps 8 keep-alive connections busy over
 * https while the certificate files are replaced three times (renamed into place, as certbot and
 * Kubernetes do; picked up by the file watch) and once re-read by a reload (the SIGHUP / POST /-/reload
 * path). 0 failed requests; every new connection, verified against the CA, sees the newest certificate.
 * autocannon itself does not verify (it sets rejectUnauthorized: false); the verifying clients do.
 */
import t from 'tap';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { autocannon, failedOf } from '../helpers/autocannon.js';
import { createFakeHandler, startWeb } from '../helpers/web-tier.js';
import { makeCa, makeLeaf, type TestLeaf } from '../helpers/tls-certs.js';

function fingerprint(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error('timeout')));
    socket.on('error', reject);
  });
}

t.test('certificates replaced under https load: 0 failed requests, new connections see the new certificate', { timeout: 180_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'twotier-tls-load-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = await makeCa();
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const install = async (leaf: TestLeaf, step: number): Promise<void> => {
    await writeFile(`${key}.${step}`, leaf.keyPem);
    await writeFile(`${cert}.${step}`, leaf.certPem);
    await rename(`${key}.${step}`, key);
    await rename(`${cert}.${step}`, cert);
  };
  await install(await makeLeaf(ca, ['localhost']), 0);
  const { web } = await startWeb(t, {
    handlers: { static: createFakeHandler('static') },
    env: { WEB_TLS: 'files', WEB_TLS_PORT: '0', WEB_TLS_CERT_FILES: cert, WEB_TLS_KEY_FILES: key, WEB_TLS_WATCH_MS: '200', WEB_PEER_MAX_CONNECTIONS: '0' },
  });
  const port = web.tlsAddress()?.port ?? 0;
  const load = autocannon({ url: `https://localhost:${port}/index.html`, connections: 8, duration: 120, timeout: 10, tlsOptions: { ca: ca.certPem, servername: 'localhost' } });

  let previous = await fingerprint(port, ca.certPem);
  for (let step = 1; step <= 4; step += 1) {
    const leaf = await makeLeaf(ca, ['localhost']);
    if (step < 4) await install(leaf, step);
    else {
      // The reload path: files written without a watch event mattering, then re-read at once.
      await writeFile(key, leaf.keyPem);
      await writeFile(cert, leaf.certPem);
      t.equal(await web.tls?.reloadCertificates(), true, 'a reload re-reads the files');
    }
    const deadline = Date.now() + 20_000;
    let seen = await fingerprint(port, ca.certPem);
    while (seen === previous && Date.now() < deadline) {
      await new Promise<void>((resolve) => setTimeout(resolve, 100).unref());
      seen = await fingerprint(port, ca.certPem);
    }
    t.not(seen, previous, `replacement ${step}: a new connection sees the new certificate`);
    previous = seen;
  }
  load.stop();
  const result = await load;
  t.comment(`https load through 4 replacements: ${result.requests.total} requests, ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx`);
  t.ok(result.requests.total > 0, 'the load ran');
  t.equal(failedOf(result), 0, 'no request failed');
});
