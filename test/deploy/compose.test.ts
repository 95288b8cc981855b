/**
 * No Docker engine runs here, so the container files are checked, not run: Debian's
 * docker-compose validates and normalises docker-compose.yml (`config`), and the invariants
 * the deployment relies on are asserted on the result and on the Dockerfile's text.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENV_BINDINGS } from '../../app-tier/config.js';
import { ENV_VARS } from '../../web-tier/config.js';
import { placements } from '../../deploy/start-options.mjs';
import { ROOT } from '../helpers/pm2.js';

const WEB_NODE_FLAGS = (JSON.parse(readFileSync(join(ROOT, 'deploy', 'node-flags.json'), 'utf8')) as { web: string[] }).web;

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  init?: boolean;
  environment?: Record<string, string>;
  ports?: Array<string | { published?: number | string; target?: number }>;
  depends_on?: Record<string, { condition?: string }>;
  healthcheck?: { test?: unknown };
  networks?: Record<string, { ipv4_address?: string } | null>;
  volumes?: string[];
}

function sourceFiles(folders: readonly string[]): string[] {
  const files: string[] = [];
  for (const folder of folders) {
    for (const entry of readdirSync(join(ROOT, folder), { recursive: true, withFileTypes: true })) {
      if (entry.isFile() && entry.name.endsWith('.ts')) files.push(join(entry.parentPath, entry.name));
    }
  }
  return files;
}

function hasCommand(command: string): boolean {
  try {
    execFileSync(command, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const skip = hasCommand('docker-compose') ? false : 'docker-compose is not installed (apt-get install docker-compose)';

/** docker-compose config, as JSON through the PyYAML that docker-compose itself runs on. */
function composeConfig(): { services: Record<string, Service> } {
  const yaml = execFileSync('docker-compose', ['-f', join(ROOT, 'docker-compose.yml'), 'config'], { cwd: ROOT, timeout: 60_000 }).toString();
  const json = execFileSync('python3', ['-c', 'import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'], { input: yaml }).toString();
  return JSON.parse(json) as { services: Record<string, Service> };
}

const EXTRA_ENV = new Set(['PGPASSWORD', 'HEALTH_PORT', 'LOG_PRETTY']);

t.test('docker-compose.yml: valid, multi-box shaped, env from the multi-box placement', { skip }, async (t) => {
  const { services } = composeConfig();
  t.same(Object.keys(services).sort(), ['app1', 'app2', 'db', 'web']);
  const multi = placements.loadPlacement('multi-box');
  const { web, db } = services as Record<string, Service>;
  const apps = [services['app1'], services['app2']] as Service[];

  t.ok(web?.ports?.some((port) => (typeof port === 'string' ? /^(\d+\.\d+\.\d+\.\d+:)?8080:8080$/.test(port) : String(port.published) === '8080' && port.target === 8080)), 'web publishes 8080');
  for (const [name, service] of Object.entries(services)) {
    if (name !== 'web') t.notOk(service.ports, `${name} publishes nothing`);
    t.ok(service.healthcheck?.test, `${name} has a healthcheck`);
    for (const [dependency, spec] of Object.entries(service.depends_on ?? {})) {
      t.equal(spec.condition, 'service_healthy', `${name} waits for ${dependency} to be healthy`);
      t.ok(services[dependency]?.healthcheck, `${dependency} has the healthcheck ${name} waits for`);
    }
  }
  t.same(Object.keys(web?.depends_on ?? {}).sort(), ['app1', 'app2']);
  for (const app of apps) t.same(Object.keys(app.depends_on ?? {}), ['db']);

  for (const [name, service] of [['web', web], ['app1', apps[0]], ['app2', apps[1]]] as const) {
    t.equal(service?.init, true, `${name}: init: true (an init as PID 1 forwards signals and reaps)`);
    t.notMatch((service?.command ?? []).join(' '), /npm/, `${name}: not started through npm (npm does not forward SIGTERM)`);
  }
  t.same(web?.command, ['node', ...WEB_NODE_FLAGS, 'dist/web-tier/main.js'], 'the web tier with the V8 flags of deploy/node-flags.json');
  for (const app of apps) t.same(app.command, ['node', 'dist/app-tier/main.js']);

  const webEnv = web?.environment ?? {};
  for (const [key, value] of Object.entries(placements.placementEnv(multi, 'web'))) t.equal(webEnv[key], value, `web ${key} is the multi-box placement's`);
  for (const key of Object.keys(webEnv)) t.ok(ENV_VARS.includes(key) || EXTRA_ENV.has(key), `web env ${key} is read by the web tier`);
  for (const app of apps) {
    const env = app.environment ?? {};
    for (const [key, value] of Object.entries(placements.placementEnv(multi, 'app'))) t.equal(env[key], value, `app ${key} is the multi-box placement's`);
    for (const key of Object.keys(env)) t.ok(key in ENV_BINDINGS || EXTRA_ENV.has(key), `app env ${key} is read by the app tier`);
    t.equal(env['APP_HOST'], '0.0.0.0', 'an app box listens beyond loopback');
  }

  // The boxes sit at the placement's addresses.
  const upstreamHosts = (multi.web['upstreams'] as string[]).map((url) => new URL(url).hostname);
  t.same(apps.map((app) => Object.values(app.networks ?? {})[0]?.ipv4_address), upstreamHosts, 'app boxes at the upstream addresses');
  t.equal(Object.values(db?.networks ?? {})[0]?.ipv4_address, new URL(multi.app['databaseUrl'] as string).hostname, 'db box at the DATABASE_URL host');
  t.match(db?.image, /^postgres:\d+/);
  t.ok(db?.volumes?.some((volume) => /:\/var\/lib\/postgresql\/data/.test(volume)), 'db data on a volume');
  t.equal(db?.environment?.['POSTGRES_PASSWORD'], apps[0]?.environment?.['PGPASSWORD'], 'the apps use the db password');
});

t.test('Dockerfile: multi-stage, CI build commands, production deps only, non-root, healthcheck', async (t) => {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const stages = text.split(/^FROM /m).slice(1);
  t.ok(stages.length >= 2, 'multi-stage');
  for (const stage of stages) t.match(stage, /^node:(20|22|24)[.\w-]*/, 'an LTS Node image');
  const [build, runtime] = [stages[0] ?? '', stages.at(-1) ?? ''];
  t.match(build, /RUN npm ci\b/, 'the build runs npm ci (its prepare script is the CI build: tsc -p tsconfig.build.json)');
  t.match(build, /npm prune --omit=dev/, 'dev dependencies dropped before the runtime copies node_modules');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  t.equal(pkg.scripts['prepare'], pkg.scripts['build'], 'npm ci builds exactly what npm run build does');
  const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
  for (const folder of new Set(tsconfig.include.map((glob) => glob.split('/')[0] ?? ''))) {
    t.match(build, new RegExp(`^COPY ${folder} `, 'm'), `the build copies ${folder}/ (compiled by tsconfig.build.json)`);
  }
  t.match(runtime, /^USER node$/m, 'runs as the node user');
  t.match(runtime, /^HEALTHCHECK .*\n?.*\/healthz/m, 'HEALTHCHECK on /healthz');
  t.match(runtime, new RegExp(`^CMD ${JSON.stringify(['node', ...WEB_NODE_FLAGS, 'dist/web-tier/main.js']).replaceAll(',', ', ').replace(/[[\]]/g, '\\$&')}$`, 'm'), 'node (with deploy/node-flags.json) as the command, not npm start');
  t.notMatch(runtime, /npm (ci|install)/, 'no dependency install in the runtime stage');
  // Every folder a tier reads at run time as join(packageRoot(), 'a', 'b', …) must be in the image.
  const runtimePaths = new Set<string>();
  for (const file of sourceFiles(['web-tier', 'app-tier', 'common'])) {
    for (const match of readFileSync(file, 'utf8').matchAll(/join\(packageRoot\(\), ((?:'[^']+'(?:, )?)+)\)/g)) {
      runtimePaths.add([...(match[1] ?? '').matchAll(/'([^']+)'/g)].map((part) => part[1]).join('/'));
    }
  }
  // The status page shows the latest bench result only if one exists; the image has none.
  runtimePaths.delete('bench/results');
  t.ok(runtimePaths.size > 0, `run-time folders found: ${[...runtimePaths].join(', ')}`);
  for (const path of runtimePaths) t.match(runtime, new RegExp(`^COPY --from=build /app/${path} \\./${path}$`, 'm'), `the image has ${path}/ (read at run time)`);
  const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
  for (const entry of ['node_modules', 'dist', 'data', '.git']) t.ok(ignore.includes(entry), `.dockerignore leaves out ${entry}`);
});
