/**
 * DNS discovery across real network stacks (issue 19): a web box and three app boxes, each in
 * its own network namespace on one bridge, and one name, app.twotier.test, that the web box
 * resolves through its own /etc/hosts (`ip netns exec` mounts /etc/netns/<ns>/hosts over it,
 * and getaddrinfo reads the file on every look-up), the way Docker's DNS answers for a compose
 * service with replicas. Under a steady load from the host: boxes are added to the name, one is
 * taken out and stopped gracefully (a scale-down), one is killed outright before the name
 * forgets it (a crash): 0 failed GETs, and the echo shows which boxes answer.
 */
import t, { type Test } from 'tap';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { APP_MAIN } from '../helpers/app-tier.js';
import { describeResult, failedOf, steadyLoad } from '../helpers/autocannon.js';
import { followChild, type FollowedChild } from '../helpers/child-lines.js';
import { fetchOnce } from '../helpers/load.js';
import { connectBoxes, createNetns, netnsSkipReason, uniqueTag, type Netns } from '../helpers/netns.js';
import { WEB_MAIN } from '../helpers/web-tier.js';

const skip = netnsSkipReason() || (existsSync(WEB_MAIN) && existsSync(APP_MAIN) ? false : 'dist/ is not built (npx tsc -p tsconfig.build.json)');

// A /24 of its own inside 198.18.0.0/15, apart from multibox.test.ts's 198.18.0.0/24.
const NET = { client: '198.18.7.1', web: '198.18.7.10', apps: ['198.18.7.11', '198.18.7.12', '198.18.7.13'] } as const;
const NAME = 'app.twotier.test';

function launch(t: Test, netns: Netns, script: string, env: NodeJS.ProcessEnv, cwd: string): FollowedChild {
  const box = followChild(netns.spawn(process.execPath, [script], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] }), { textKey: 'msg', waitMs: 120_000, name: netns.name });
  t.teardown(async () => {
    if (box.child.exitCode === null && box.child.signalCode === null) {
      box.child.kill('SIGKILL');
      await box.exited;
    }
  });
  return box;
}

t.test('boxes added to and removed from a name under load: 0 failed GETs', { skip, timeout: 400_000 }, async (t) => {
  const tag = uniqueTag();
  const webNs = await createNetns(t, `tt${tag}web`);
  const appNs = await Promise.all(NET.apps.map((_, index) => createNetns(t, `tt${tag}app${index + 1}`)));
  await connectBoxes(t, tag, [{ netns: webNs, address: NET.web }, ...appNs.map((netns, index) => ({ netns, address: NET.apps[index] ?? '' }))], { hostAddress: NET.client });

  // The web box's /etc/hosts: written in place (same inode), as the bind mount pins the file.
  const etc = join('/etc/netns', webNs.name);
  mkdirSync(etc, { recursive: true });
  t.teardown(() => rmSync(etc, { recursive: true, force: true }));
  const hosts = join(etc, 'hosts');
  const setName = (addresses: readonly string[]): void => {
    writeFileSync(hosts, `127.0.0.1 localhost\n${addresses.map((address) => `${address} ${NAME}`).join('\n')}\n`);
  };
  setName([NET.apps[0]]);

  const work = mkdtempSync(join(tmpdir(), 'twotier-dns-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const base = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LOG_LEVEL: 'info', LOG_PRETTY: '0' };
  const apps = NET.apps.map((address, index) => {
    const dir = join(work, `app${index + 1}`);
    mkdirSync(dir);
    return launch(t, appNs[index]!, APP_MAIN, {
      ...base, APP_HOST: address, APP_PORT: '3000', APP_WORKERS: '1', APP_SHUTDOWN_TIMEOUT_MS: '5000',
      DATABASE_URL: `sqlite:${join(dir, 'twotier.db')}`, APP_OPERATOR_ALLOW: NET.web,
    }, dir);
  });
  await Promise.all(apps.map((app) => app.waitForLine((line) => line['msg'] === 'listening' && line['role'] === 'primary')));
  const web = launch(t, webNs, WEB_MAIN, {
    ...base, WEB_HOST: NET.web, WEB_PORT: '8080', APP_UPSTREAMS: `http://${NAME}:3000`,
    WEB_UPSTREAM_RESOLVE_MS: '300', WEB_PROXY_HEALTH_INTERVAL_MS: '300',
  }, work);
  await web.waitForLine((line) => line['msg'] === 'listening');
  const url = `http://${NET.web}:8080/api/echo`;
  // 'listening' may come from the primary before its workers accept: ask /healthz (bounded).
  for (let deadline = Date.now() + 60_000; Date.now() < deadline; await delay(200)) {
    const health = await fetchOnce(`http://${NET.web}:8080/healthz`).catch(() => undefined);
    if (health?.status === 200) break;
  }
  const ready = await fetchOnce(`http://${NET.web}:8080/healthz`).catch((error: unknown) => ({ status: 0, body: String(error) }));
  if (ready.status !== 200) t.fail(`the web box does not answer: ${ready.body}\n${web.tail()}`);

  /** Distinct app addresses answering `samples` echoes in a row. */
  const answering = async (samples = 24): Promise<Set<string>> => {
    const seen = new Set<string>();
    for (let i = 0; i < samples; i += 1) {
      const answer = await fetchOnce(url);
      if (answer.status === 200) seen.add((JSON.parse(answer.body) as { worker: { address: string } }).worker.address);
    }
    return seen;
  };
  /** Waits (bounded) until exactly `expected` answer. */
  const until = async (expected: readonly string[], timeoutMs = 30_000): Promise<string[]> => {
    const deadline = Date.now() + timeoutMs;
    let seen: string[] = [];
    while (Date.now() < deadline) {
      seen = [...(await answering())].sort();
      if (seen.join() === [...expected].sort().join()) return seen;
      await delay(200);
    }
    return seen;
  };

  t.same(await until([NET.apps[0]]), [NET.apps[0]], 'one box behind the name');
  const load = steadyLoad(url, { overallRate: 150, durationS: 120 });

  setName(NET.apps);
  t.same(await until(NET.apps), [...NET.apps].sort(), 'three boxes once the name lists them');

  // Scale-down: the name forgets box 1, which then stops gracefully.
  setName([NET.apps[1], NET.apps[2]]);
  apps[0]!.child.kill('SIGTERM');
  await apps[0]!.exited;
  t.same(await until([NET.apps[1], NET.apps[2]]), [NET.apps[1], NET.apps[2]], 'box 1 drained away');

  // A crash: box 2 is killed while the name still lists it; the failure triggers a look-up.
  await appNs[1]!.killAll();
  await apps[1]!.exited;
  setName([NET.apps[2]]);
  t.same(await until([NET.apps[2]]), [NET.apps[2]], 'only box 3 answers');

  const result = await load.stop();
  t.comment(`load through add 1→3, drain 1, kill 2: ${describeResult(result)}`);
  t.ok(result.requests.total > 100, 'the load ran');
  t.equal(failedOf(result), 0, 'no GET failed');
  const changes = await web.waitForLine((line) => line['msg'] === 'upstream addresses changed');
  t.ok(changes, 'the web tier logged the address changes');
});
