/**
 * The compose deployment for real (`npm run test:compose`, driven by
 * deploy/containers/compose-test.sh, which starts the Docker engine, builds the images and
 * stops the engine afterwards). Not part of `npm test`: it needs a Docker engine, root and
 * minutes. The project's containers are brought up with docker-compose exactly as a person
 * would, checked from the published port, disturbed under a small bounded load (a killed app
 * container, a scale-out to three replicas and back to one) and removed with `down -v`.
 *
 * Polling docker for container health is the only way to learn it (no event says "healthy"
 * to a client); every poll is bounded.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { fetchOnce } from '../helpers/load.js';
import { ROOT } from '../helpers/pm2.js';
import { describeResult as describe, steadyLoad as steadyLoadAt } from '../helpers/autocannon.js';
import { docker, healthOf, lines, memoryLimitOf, waitForAddresses as waitForAddressesAt, waitHealthy as waitHealthyOf, type Echo } from './docker.js';

const run = promisify(execFile);
const PROJECT = process.env['COMPOSE_PROJECT_NAME'] ?? 'twotierci';
const PORT = process.env['WEB_PUBLISH_PORT'] ?? '8080';
const BASE = `http://127.0.0.1:${PORT}`;
const TOKEN = readFileSync(process.env['APP_TOKEN_FILE'] ?? join(ROOT, 'deploy', 'containers', 'secrets', 'app_token.example'), 'utf8').trim();

async function compose(args: readonly string[], timeoutMs = 240_000): Promise<string> {
  const { stdout } = await run('docker-compose', ['-p', PROJECT, '-f', join(ROOT, 'docker-compose.yml'), ...args], { cwd: ROOT, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/** Container ids of a service (running or not). */
async function containersOf(service: string): Promise<string[]> {
  return lines(await docker(['ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--filter', `label=com.docker.compose.service=${service}`]));
}

/** Waits until `service` has exactly `count` containers, all healthy; bounded. */
const waitHealthy = (service: string, count: number, timeoutMs = 240_000): Promise<string[]> => waitHealthyOf(service, () => containersOf(service), count, timeoutMs);
const waitForAddresses = (count: number, timeoutMs = 60_000): Promise<Set<string>> => waitForAddressesAt(BASE, count, timeoutMs);
const steadyLoad = (path: string): ReturnType<typeof steadyLoadAt> => steadyLoadAt(`${BASE}${path}`);

t.setTimeout(20 * 60_000);

t.teardown(async () => {
  // Whatever happened above: nothing of the project stays (the driver checks again after this).
  await compose(['down', '-v', '--remove-orphans', '--timeout', '10']).catch(() => undefined);
});

t.test('up: web, two app replicas and Postgres become healthy', async (t) => {
  const started = Date.now();
  await compose(['up', '-d', '--scale', 'app=2'], 600_000);
  const [apps, dbs, webs] = await Promise.all([waitHealthy('app', 2), waitHealthy('db', 1), waitHealthy('web', 1)]);
  t.equal(apps.length, 2, 'two app replicas healthy');
  t.equal(dbs.length + webs.length, 2, 'db and web healthy');
  t.comment(`up -d until all healthy: ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

t.test('memory limits apply: docker inspect HostConfig.Memory of every container', async (t) => {
  // docker-compose.yml's deploy.resources.limits.memory. Compose 1.x ignores deploy: in a file
  // of format version 2 or 3 (only --compatibility maps it); a file without `version:` is read as
  // the Compose Specification, where 1.27+ applies it, as Compose v2 does. Checked, not assumed.
  const expected: Record<string, number> = { web: 768 * 1024 * 1024, app: 768 * 1024 * 1024, db: 512 * 1024 * 1024 };
  for (const [service, bytes] of Object.entries(expected)) {
    const ids = await containersOf(service);
    t.ok(ids.length > 0, `${service} has containers`);
    for (const id of ids) t.equal(await memoryLimitOf(id), bytes, `${service} ${id.slice(0, 12)}: HostConfig.Memory ${bytes}`);
  }
});

t.test('through the published port: static file, echo web → app, an article through Postgres, status page', async (t) => {
  const index = await fetchOnce(`${BASE}/`);
  t.equal(index.status, 200, 'GET / (a static file of the web tier)');
  t.match(String(index.headers['content-type']), /^text\/html/);

  const echo = await fetchOnce(`${BASE}/api/echo`);
  t.equal(echo.status, 200, 'GET /api/echo answered by an app replica');
  t.match((JSON.parse(echo.body) as Echo).worker.address, /^198\.18\.0\.\d+$/, 'from an address on the boxes network');

  const title = `compose ${Date.now()}`;
  const created = await fetchOnce(`${BASE}/api/articles/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ title, body: 'written through web → app → Postgres' }),
  });
  t.equal(created.status, 201, `POST /api/articles/ with the APP_TOKEN secret: ${created.body.slice(0, 200)}`);
  const location = String(created.headers['location'] ?? '');
  const read = await fetchOnce(new URL(location, BASE).href, { headers: { accept: 'application/json' } });
  t.equal(read.status, 200, `GET ${location}`);
  t.match(read.body, title, 'the article reads back');
  const row = await compose(['exec', '-T', 'db', 'psql', '-U', 'twotier', '-d', 'twotier', '-tAc', `SELECT count(*) FROM articles WHERE title = '${title}'`]);
  t.equal(row.trim(), '1', 'the row is in Postgres');

  // Operator endpoints answer loopback only: asked from inside the web container.
  const status = await compose(['exec', '-T', 'web', 'node', '-e',
    "fetch('http://127.0.0.1:8080/-/status.json').then(async (r) => { process.stdout.write(r.status + ' ' + await r.text()); })"]);
  t.match(status, /^200 /, 'the status page data answers');
  t.match(status, /198\.18\.0\.\d+:3000/, 'and lists the discovered app addresses');
});

t.test('one app container killed under load: 0 failed GETs; it comes back', async (t) => {
  const [victim] = await containersOf('app');
  const load = steadyLoad('/api/echo');
  // However the steps below end, the load stops (it must not outlive the test).
  t.teardown(() => load.stop().then(() => undefined));
  await delay(2_000);
  await docker(['kill', victim ?? '']);
  // Here (dockerd 20.10) a `docker kill`ed container stays exited whatever its restart policy:
  // start it again, as an operator or an orchestrator would, and wait until both are healthy.
  await delay(3_000);
  if ((await healthOf(victim ?? '')) === 'exited') await docker(['start', victim ?? '']);
  await waitHealthy('app', 2);
  await delay(3_000);
  const result = await load.stop();
  t.comment(`kill one of 2 app containers: ${describe(result)}`);
  t.ok(result.requests.total > 0, 'the load ran');
  // A GET in flight on the killed container is reset; the proxy sends it to the other replica
  // (retry-policy.ts, nginx's proxy_next_upstream error). Before that, 2 of 1966 GETs were 502 here.
  t.equal(result.errors + result.timeouts + result.non2xx, 0, `no GET failed (${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts; ${result.requests.total} in all)`);
});

t.test('scale app to 3, then to 1, under load: 0 failed GETs; the echo shows 3, then 1 address', async (t) => {
  const load = steadyLoad('/api/echo');
  t.teardown(() => load.stop().then(() => undefined));
  const up = Date.now();
  await compose(['up', '-d', '--no-recreate', '--scale', 'app=3'], 600_000);
  await waitHealthy('app', 3);
  const three = await waitForAddresses(3);
  t.equal(three.size, 3, `3 distinct addresses answer: ${[...three].join(', ')} (${((Date.now() - up) / 1000).toFixed(1)} s after the scale)`);
  const down = Date.now();
  await compose(['up', '-d', '--no-recreate', '--scale', 'app=1'], 600_000);
  await waitHealthy('app', 1);
  const one = await waitForAddresses(1);
  t.equal(one.size, 1, `1 address answers: ${[...one].join(', ')} (${((Date.now() - down) / 1000).toFixed(1)} s after the scale)`);
  const result = await load.stop();
  t.comment(`scale 2 → 3 → 1: ${describe(result)}`);
  t.ok(result.requests.total > 0, 'the load ran');
  t.equal(result.errors + result.timeouts + result.non2xx, 0, `no GET failed (${describe(result)})`);
});

t.test('down -v leaves no container, network or volume of the project', async (t) => {
  await compose(['down', '-v', '--remove-orphans', '--timeout', '20']);
  const label = `label=com.docker.compose.project=${PROJECT}`;
  t.same(lines(await docker(['ps', '-a', '-q', '--filter', label])), [], 'no containers');
  t.same(lines(await docker(['network', 'ls', '-q', '--filter', label])), [], 'no networks');
  t.same(lines(await docker(['volume', 'ls', '-q', '--filter', label])), [], 'no volumes');
});
