import t from 'tap';
import { createRequire } from 'node:module';
import { DEFAULTS as APP_DEFAULTS } from '../../app-tier/config.js';
import { DEFAULTS as WEB_DEFAULTS } from '../../web-tier/config.js';
import { placements } from '../../deploy/start-options.mjs';
import { ECOSYSTEM } from '../helpers/pm2.js';

interface App {
  name: string;
  script: string;
  exec_mode: string;
  instances: number | string;
  wait_ready?: boolean;
  listen_timeout?: number;
  kill_timeout: number;
  env: Record<string, string>;
  [key: string]: unknown;
}

const require = createRequire(import.meta.url);

function load(env: Record<string, string | undefined>): App[] {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    delete require.cache[require.resolve(ECOSYSTEM)];
    return (require(ECOSYSTEM) as { apps: App[] }).apps;
  } finally {
    for (const key of Object.keys(env)) if (saved[key] === undefined) delete process.env[key];
    Object.assign(process.env, saved);
  }
}

t.test('ecosystem.config.js loads as CommonJS in this ESM package and describes both apps', async (t) => {
  const apps = load({});
  const app = apps.find((a) => a.name === 'app') as App;
  const web = apps.find((a) => a.name === 'web') as App;
  t.ok(app && web, 'apps app and web');
  t.equal(app.exec_mode, 'cluster');
  t.equal(app.instances, 'max', 'one instance per CPU by default');
  t.equal(load({ APP_INSTANCES: '3' }).find((a) => a.name === 'app')?.instances, '3', 'APP_INSTANCES overrides');
  t.equal(app.wait_ready, true, 'admitted only after process.send("ready")');
  t.ok((app.listen_timeout ?? 0) >= 10_000);
  t.ok(app.kill_timeout > APP_DEFAULTS.shutdownTimeoutMs, `kill_timeout ${app.kill_timeout} > the drain bound ${APP_DEFAULTS.shutdownTimeoutMs}`);
  t.ok(load({ APP_SHUTDOWN_TIMEOUT_MS: '20000' }).find((a) => a.name === 'app')!.kill_timeout > 20_000, 'follows APP_SHUTDOWN_TIMEOUT_MS');
  t.ok(web.kill_timeout > WEB_DEFAULTS.server.shutdownTimeoutMs);
  t.equal(web.wait_ready, true, 'web too: main.js sends ready once it listens');
  t.same(web['node_args'], require('../../deploy/node-flags.json').web, 'web runs with the V8 flags of deploy/node-flags.json');
  t.ok((web['node_args'] as string[]).length > 0);
  for (const entry of [app, web]) {
    t.match(entry.script, /\/dist\/(app|web)-tier\/main\.js$/, `${entry.name} runs compiled JS`);
    t.equal(entry.env['LOG_PRETTY'], '0', 'pino JSON in pm2 logs');
    const tier = entry.name as 'app' | 'web';
    t.match(entry['env_multi-box'], placements.placementEnv(placements.loadPlacement('multi-box'), tier), `${entry.name}: --env multi-box is the multi-box placement`);
    t.match(entry.env, placements.placementEnv(placements.loadPlacement('single-box'), tier), `${entry.name}: the default env is single-box`);
  }
  t.equal(load({ DATABASE_URL: 'sqlite:/tmp/x.db' }).find((a) => a.name === 'app')?.env['DATABASE_URL'], 'sqlite:/tmp/x.db', 'the shell\'s env wins over the placement');
});
