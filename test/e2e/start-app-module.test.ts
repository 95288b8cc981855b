/**
 * Issue 18's fresh-clone check: `APP_MODULE=./examples/hello/app.js npm start` (node
 * dist/deploy/start.mjs, run from the package root as npm runs it) answers the hello page through
 * the web tier: the relative path reaches both tiers through the caller's environment, the app
 * tier's workers run the module, and the web tier forwards a dynamic prefix to them.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { send } from '../helpers/app-tier.js';
import { spawnEntry, START_MAIN } from '../helpers/web-tier.js';

t.setTimeout(180_000);

t.test('APP_MODULE=./examples/hello/app.js npm start answers Hello world! through the web tier', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-start-hello-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const launcher = spawnEntry(t, START_MAIN, {
    APP_MODULE: './examples/hello/app.js', WEB_PORT: '0', APP_PORT: '0', APP_WORKERS: '1', DATABASE_URL: `sqlite:${join(dir, 'twotier.db')}`, APP_PID_FILE: join(dir, 'app.pid'),
  });
  const up = (await launcher.waitForLine((line) => line['msg'] === 'twotier is up', 90_000)) as unknown as { web: { port: number } };
  const hello = await send(`http://127.0.0.1:${up.web.port}/api/`);
  t.same({ status: hello.status, servedBy: hello.headers['x-served-by'], body: hello.text }, { status: 200, servedBy: 'app', body: 'Hello world!\n' }, 'the hello page, from the app tier, through the web tier');
  const home = await send(`http://127.0.0.1:${up.web.port}/`);
  t.equal(home.headers['x-served-by'], 'static', 'the site itself is still the web tier\'s');
});
