/**
 * Issue 18's fresh-clone check: `APP_MODULE=./examples/hello/app.js npm start` (node
 * dist/deploy/start.mjs, run from the package root as npm runs it) answers the hello page through
 * the web tier: the relative path reaches both tiers through the caller's environment, the app
 * tier's workers run the module, and the web tier forwards a dynamic prefix to them.
 */
import t from 'tap';
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnEntry, START_MAIN } from '../helpers/web-tier.js';

t.setTimeout(180_000);

function get(port: number, path: string): Promise<{ status: number; servedBy: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, servedBy: res.headers['x-served-by'] as string | undefined, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('APP_MODULE=./examples/hello/app.js npm start answers Hello world! through the web tier', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-start-hello-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const launcher = spawnEntry(t, START_MAIN, {
    APP_MODULE: './examples/hello/app.js', WEB_PORT: '0', APP_PORT: '0', APP_WORKERS: '1', DATABASE_URL: `sqlite:${join(dir, 'twotier.db')}`, APP_PID_FILE: join(dir, 'app.pid'),
  });
  const up = (await launcher.waitForLine((line) => line['msg'] === 'twotier is up', 90_000)) as unknown as { web: { port: number } };
  const hello = await get(up.web.port, '/api/');
  t.same({ status: hello.status, servedBy: hello.servedBy, body: hello.body }, { status: 200, servedBy: 'app', body: 'Hello world!\n' }, 'the hello page, from the app tier, through the web tier');
  const home = await get(up.web.port, '/');
  t.equal(home.servedBy, 'static', 'the site itself is still the web tier\'s');
});
