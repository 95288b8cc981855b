/**
 * The project as a Docker Swarm stack, for real (`npm run test:compose`, after stack.ts; driven
 * by deploy/containers/compose-test.sh, which has built twotier:local with docker-compose).
 * A single-node swarm of our own, deploy/containers/stack.yml deployed from local images only
 * (`--resolve-image never`: no registry is asked), then `docker service update --force` of the
 * app service under a small steady load: the rolling update (start-first, one task at a time,
 * each new task healthy before an old one stops) must cost 0 requests. Then `docker stack rm`
 * and `docker swarm leave --force`: nothing of the stack left.
 *
 * The engine must not be in a swarm already: one we did not create is never touched (the test
 * is skipped). SWARM_UPDATE_ORDER=stop-first measures the other order.
 */
import t from 'tap';
import { BlockList } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ROOT } from '../helpers/pm2.js';
import { describeResult, failedOf, steadyLoad } from '../helpers/autocannon.js';
import { docker, lines, memoryLimitOf, run, waitForAddresses, waitHealthy } from './docker.js';

const STACK = process.env['SWARM_STACK_NAME'] ?? 'twotierswarm';
const STACK_FILE = join(ROOT, 'deploy', 'containers', 'stack.yml');
const PORT = process.env['WEB_PUBLISH_PORT'] ?? '8080';
const BASE = `http://127.0.0.1:${PORT}`;
const UPDATE_ORDER = process.env['SWARM_UPDATE_ORDER'];
/** Swarm's own networks (ingress, the stack's when not given a subnet): inside 198.18.0.0/15. */
const ADDRESS_POOL = '198.19.64.0/18';
const STACK_LABEL = `label=com.docker.stack.namespace=${STACK}`;
const MiB = 1024 * 1024;

const swarmState = async (): Promise<string> => (await docker(['info', '--format', '{{.Swarm.LocalNodeState}}'])).trim();

/**
 * The address the swarm advertises and listens on: the default bridge's gateway when it is ours
 * (dockerd.sh puts it at 198.19.0.1, inside 198.18.0.0/15), else loopback; never an uplink.
 */
async function advertiseAddress(): Promise<string> {
  const gateway = (await docker(['network', 'inspect', 'bridge', '-f', '{{range .IPAM.Config}}{{.Gateway}}{{end}}']).catch(() => '')).trim();
  const ours = new BlockList();
  ours.addSubnet('198.18.0.0', 15, 'ipv4');
  return /^\d+\.\d+\.\d+\.\d+$/.test(gateway) && ours.check(gateway, 'ipv4') ? gateway : '127.0.0.1';
}

/** Running containers of a stack service (a failed task's exited container does not count). */
async function runningOf(service: string): Promise<string[]> {
  return lines(await docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${STACK}_${service}`]));
}

/** What the stack leaves, by kind; every list empty once it is removed. */
async function leftovers(): Promise<Record<string, string[]>> {
  const [services, containers, networks, secrets, volumes] = await Promise.all([
    docker(['service', 'ls', '-q', '--filter', STACK_LABEL]).catch(() => ''),
    docker(['ps', '-aq', '--filter', STACK_LABEL]),
    docker(['network', 'ls', '-q', '--filter', STACK_LABEL]),
    docker(['secret', 'ls', '-q', '--filter', STACK_LABEL]).catch(() => ''),
    docker(['volume', 'ls', '-q', '--filter', STACK_LABEL]),
  ]);
  return { services: lines(services), containers: lines(containers), networks: lines(networks), secrets: lines(secrets), volumes: lines(volumes) };
}

/**
 * `docker stack rm` returns before its tasks and networks are gone (it finishes in the
 * background); the named volume outlives it by design. Waits for both, bounded, then removes
 * the stack's volumes.
 */
async function removeStack(timeoutMs = 120_000): Promise<void> {
  await docker(['stack', 'rm', STACK]).catch(() => undefined);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const left = await leftovers();
    if (left['containers']?.length === 0 && left['networks']?.length === 0) break;
    await delay(1_000);
  }
  for (const volume of (await leftovers())['volumes'] ?? []) await docker(['volume', 'rm', volume]).catch(() => undefined);
}

let initialised = false;
/** swarm init creates the docker_gwbridge bridge and swarm leave keeps it: ours to remove when it was not there before. */
let gwbridgeWasThere = true;
const gwbridgeExists = async (): Promise<boolean> => lines(await docker(['network', 'ls', '-q', '--filter', 'name=^docker_gwbridge$'])).length > 0;

async function leaveSwarm(): Promise<void> {
  await docker(['swarm', 'leave', '--force']).catch(() => undefined);
  if (!gwbridgeWasThere) await docker(['network', 'rm', 'docker_gwbridge']).catch(() => undefined);
}

t.setTimeout(15 * 60_000);

t.teardown(async () => {
  // Whatever happened above: the stack and the swarm we created go (the driver checks again).
  if (!initialised) return;
  await removeStack();
  await leaveSwarm();
});

t.test('swarm init, stack deploy from local images: web, two app tasks and Postgres healthy', async (t) => {
  const state = await swarmState();
  if (state !== 'inactive') {
    t.plan(0, `the engine is in a swarm already (${state}): not ours, not touched`);
    return;
  }
  const address = await advertiseAddress();
  gwbridgeWasThere = await gwbridgeExists();
  // The daemon's address pools do not apply to swarm: without --default-addr-pool, ingress takes 10.0.0.0/24.
  await docker(['swarm', 'init', '--advertise-addr', address, '--listen-addr', `${address}:2377`, '--default-addr-pool', ADDRESS_POOL]);
  initialised = true;
  t.equal(await swarmState(), 'active', `a single-node swarm (advertise ${address}, pool ${ADDRESS_POOL})`);

  const started = Date.now();
  // --resolve-image never: the CLI asks no registry for a digest; tasks run twotier:local as built here.
  await run('docker', ['stack', 'deploy', '--resolve-image', 'never', '-c', STACK_FILE, STACK], { cwd: ROOT, timeout: 120_000, env: { ...process.env, WEB_PUBLISH_PORT: PORT } });
  const [apps, dbs, webs] = await Promise.all([
    waitHealthy('app', () => runningOf('app'), 2, 300_000),
    waitHealthy('db', () => runningOf('db'), 1, 300_000),
    waitHealthy('web', () => runningOf('web'), 1, 300_000),
  ]);
  t.equal(apps.length + dbs.length + webs.length, 4, 'two app tasks, db and web healthy');
  t.comment(`stack deploy until all healthy: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  t.equal((await docker(['service', 'inspect', '-f', '{{.Spec.TaskTemplate.ContainerSpec.Image}}', `${STACK}_app`])).trim(), 'twotier:local', 'the app runs the local image (no digest from a registry)');

  const seen = await waitForAddresses(BASE, 2, 120_000);
  t.equal(seen.size, 2, `the web tier reaches both app tasks by DNS (dnsrr): ${[...seen].join(', ')}`);
  t.ok([...seen].every((address) => address.startsWith('198.18.2.')), 'from the stack network 198.18.2.0/24');
});

t.test('memory limits apply to swarm tasks (deploy.resources.limits)', async (t) => {
  if (!initialised) return t.plan(0, 'no swarm of ours');
  const expected: Record<string, number> = { web: 768 * MiB, app: 768 * MiB, db: 512 * MiB };
  for (const [service, bytes] of Object.entries(expected)) {
    for (const id of await runningOf(service)) t.equal(await memoryLimitOf(id), bytes, `${service} ${id.slice(0, 12)}: HostConfig.Memory ${bytes}`);
  }
});

t.test('docker service update --force of the app under load: 0 failed requests', async (t) => {
  if (!initialised) return t.plan(0, 'no swarm of ours');
  const service = `${STACK}_app`;
  const order = (await docker(['service', 'inspect', '-f', '{{.Spec.UpdateConfig.Order}} {{.Spec.UpdateConfig.Parallelism}}', service])).trim();
  t.equal(order, 'start-first 1', 'the stack file asks start-first, one task at a time');
  const before = await runningOf('app');
  const load = steadyLoad(`${BASE}/api/echo`);
  t.teardown(() => load.stop().then(() => undefined));
  await delay(2_000);
  const started = Date.now();
  // --detach=false: returns once the update has converged (or failed and rolled back).
  const args = ['service', 'update', '--force', '--detach=false', ...(UPDATE_ORDER === undefined ? [] : ['--update-order', UPDATE_ORDER]), service];
  await docker(args, 600_000);
  const updateS = (Date.now() - started) / 1000;
  const status = (await docker(['service', 'inspect', '-f', '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}', service])).trim();
  t.equal(status, 'completed', `the update completed (not rolled back): ${status}`);
  const after = await waitHealthy('app', () => runningOf('app'), 2, 120_000);
  t.same(after.filter((id) => before.includes(id)), [], 'both tasks replaced by new containers');
  const seen = await waitForAddresses(BASE, 2, 60_000);
  t.equal(seen.size, 2, `both new tasks answer: ${[...seen].join(', ')}`);
  await delay(2_000);
  const result = await load.stop();
  const totalS = (Date.now() - started + 2_000) / 1000;
  t.comment(`rolling update (${UPDATE_ORDER ?? 'start-first'}, 2 app tasks): ${describeResult(result)}; service update ${updateS.toFixed(1)} s, load ${totalS.toFixed(1)} s`);
  t.ok(result.requests.total > 0, 'the load ran');
  t.equal(failedOf(result), 0, `no request failed (${describeResult(result)})`);
});

t.test('stack rm and swarm leave leave nothing behind', async (t) => {
  if (!initialised) return t.plan(0, 'no swarm of ours');
  await removeStack();
  t.same(await leftovers(), { services: [], containers: [], networks: [], secrets: [], volumes: [] }, 'no service, container, network, secret or volume of the stack');
  await leaveSwarm();
  initialised = false;
  t.equal(await swarmState(), 'inactive', 'the engine is out of the swarm');
  t.same(lines(await docker(['network', 'ls', '-q', '--filter', 'driver=overlay'])), [], 'no overlay network left (ingress, the stack\'s)');
  if (!gwbridgeWasThere) t.notOk(await gwbridgeExists(), 'docker_gwbridge, created by swarm init, removed');
});
