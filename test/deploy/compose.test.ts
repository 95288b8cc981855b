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
  user?: string;
  read_only?: boolean;
  tmpfs?: string[];
  secrets?: Array<string | { source: string }>;
  environment?: Record<string, string>;
  ports?: Array<string | { published?: number | string; target?: number; mode?: string }>;
  depends_on?: Record<string, { condition?: string }>;
  healthcheck?: { test?: unknown };
  networks?: Record<string, { ipv4_address?: string } | null>;
  volumes?: Array<string | { source?: string; target?: string }>;
  restart?: string;
  logging?: { driver?: string };
  deploy?: { replicas?: number; endpoint_mode?: string; resources?: { limits?: { memory?: string } }; update_config?: { order?: string } };
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

/** docker-compose config, as JSON through the PyYAML that docker-compose itself runs on (the defaults: no WEB_PUBLISH_PORT). */
function composeConfig(): { services: Record<string, Service>; secrets?: Record<string, { file?: string }> } {
  const env = { ...process.env };
  for (const key of ['WEB_PUBLISH_PORT', 'NETWORK_MTU', 'DB_PASSWORD_FILE', 'APP_TOKEN_FILE']) delete env[key];
  const yaml = execFileSync('docker-compose', ['-f', join(ROOT, 'docker-compose.yml'), 'config'], { cwd: ROOT, timeout: 60_000, env }).toString();
  const json = execFileSync('python3', ['-c', 'import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'], { input: yaml }).toString();
  return JSON.parse(json) as { services: Record<string, Service> };
}

const EXTRA_ENV = new Set(['HEALTH_PORT', 'LOG_PRETTY']);

// Issue 19 replaced app1/app2 at fixed addresses by one `app` service with replicas that the
// web tier finds by DNS, and moved the passwords into secrets: the checks follow that shape.
t.test('docker-compose.yml: valid, multi-box shaped, app replicas found by DNS, production defaults', { skip }, async (t) => {
  const config = composeConfig();
  const { services } = config;
  t.same(Object.keys(services).sort(), ['app', 'db', 'web']);
  const multi = placements.loadPlacement('multi-box');
  const { web, app, db } = services as Record<string, Service>;

  t.ok(web?.ports?.some((port) => (typeof port === 'string' ? /^(\d+\.\d+\.\d+\.\d+:)?8080:8080$/.test(port) : String(port.published) === '8080' && port.target === 8080)), 'web publishes 8080 (WEB_PUBLISH_PORT unset)');
  for (const [name, service] of Object.entries(services)) {
    if (name !== 'web') t.notOk(service.ports, `${name} publishes nothing`);
    t.ok(service.healthcheck?.test, `${name} has a healthcheck`);
    for (const [dependency, spec] of Object.entries(service.depends_on ?? {})) {
      t.equal(spec.condition, 'service_healthy', `${name} waits for ${dependency} to be healthy`);
      t.ok(services[dependency]?.healthcheck, `${dependency} has the healthcheck ${name} waits for`);
    }
    t.equal(service.read_only, true, `${name}: read-only root filesystem`);
    t.ok((service.tmpfs ?? []).length > 0, `${name}: tmpfs where it writes`);
    t.equal(service.restart, 'unless-stopped', `${name}: restart policy`);
    t.ok(service.deploy?.resources?.limits?.memory, `${name}: a memory limit`);
    t.equal(service.logging?.driver, 'json-file', `${name}: logs kept by Docker, bounded`);
    t.ok((service.secrets ?? []).some((secret) => (typeof secret === 'string' ? secret : secret.source) === 'db_password'), `${name}: the database password is a secret`);
    t.notMatch(JSON.stringify(service.environment ?? {}), /PASSWORD":|PGPASSWORD|APP_TOKEN"/, `${name}: no password or token in the environment`);
  }
  t.same(Object.keys(web?.depends_on ?? {}), ['app']);
  t.same(Object.keys(app?.depends_on ?? {}), ['db']);

  for (const [name, service] of [['web', web], ['app', app]] as const) {
    t.equal(service?.init, true, `${name}: init: true (an init as PID 1 forwards signals and reaps)`);
    t.equal(service?.user, 'node', `${name}: runs as the node user`);
    t.notMatch((service?.command ?? []).join(' '), /npm/, `${name}: not started through npm (npm does not forward SIGTERM)`);
    // sh only reads the secret files, then exec hands PID 1's child slot to node itself.
    t.match((service?.command ?? []).join(' '), /\bexec node /, `${name}: sh execs node`);
  }
  t.match(web?.command?.join(' '), `exec node ${WEB_NODE_FLAGS.join(' ')} dist/web-tier/main.js`, 'the web tier with the V8 flags of deploy/node-flags.json');
  t.match(app?.command?.join(' '), 'exec node dist/app-tier/main.js');

  const webEnv = web?.environment ?? {};
  const placementWeb = placements.placementEnv(multi, 'web');
  for (const key of ['WEB_HOST', 'WEB_PORT']) t.equal(webEnv[key], placementWeb[key], `web ${key} is the multi-box placement's`);
  t.equal(webEnv['APP_UPSTREAMS'], 'http://app:3000', 'the web tier names the app service: every replica by DNS');
  t.ok(Number(webEnv['WEB_UPSTREAM_RESOLVE_MS']) > 0, 'and re-resolves it');
  for (const key of Object.keys(webEnv)) t.ok(ENV_VARS.includes(key) || EXTRA_ENV.has(key), `web env ${key} is read by the web tier`);
  const appEnv = app?.environment ?? {};
  const placementApp = placements.placementEnv(multi, 'app');
  for (const key of ['APP_HOST', 'APP_PORT', 'APP_WORKERS']) t.equal(appEnv[key], placementApp[key], `app ${key} is the multi-box placement's`);
  for (const key of Object.keys(appEnv)) t.ok(key in ENV_BINDINGS || EXTRA_ENV.has(key), `app env ${key} is read by the app tier`);
  t.equal(appEnv['APP_HOST'], '0.0.0.0', 'an app box listens beyond loopback');
  t.match(appEnv['DATABASE_URL'], /^postgres:\/\/twotier@db:5432\/twotier$/, 'the database by its service name');
  t.notOk(app?.networks && Object.values(app.networks).some((network) => network?.ipv4_address), 'replicas have no fixed address');
  t.ok((app?.deploy?.replicas ?? 0) >= 2, 'two app replicas by default');
  t.equal(app?.deploy?.endpoint_mode, 'dnsrr', 'Swarm: the name resolves to every task');
  t.equal(app?.deploy?.update_config?.order, 'start-first', 'Swarm: a new task is up before the old one stops');

  t.match(db?.image, /^postgres:\d+/);
  t.ok(db?.volumes?.some((volume) => (typeof volume === 'string' ? /:\/var\/lib\/postgresql\/data/.test(volume) : volume.target === '/var/lib/postgresql/data')), 'db data on a volume');
  t.equal(db?.environment?.['POSTGRES_PASSWORD_FILE'], '/run/secrets/db_password', 'Postgres reads its password from the secret');
  t.ok(config.secrets?.['db_password']?.file && config.secrets['app_token']?.file, 'both secrets are files');
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
  for (const entry of ['node_modules', 'dist', 'data', '.git', 'secrets', 'deploy/containers']) t.ok(ignore.includes(entry), `.dockerignore leaves out ${entry}`);
});
