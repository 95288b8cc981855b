/**
 * Fault 3: two app boxes (two app tiers on their own ports) behind one web tier; one box is
 * killed outright mid-load. A refused connection is retried on the other box, and after
 * `WEB_PROXY_MAX_FAILS` failures the dead box is out of rotation (passive health), so at most
 * that many requests may fail. Restarted on the same address, it passes the active check and
 * receives traffic again.
 */
import t from 'tap';
import { startAppTier } from '../helpers/app-tier.js';
import { describeLoad, runLoad, startWebTier } from '../helpers/load.js';

const MAX_FAILS = 3;

t.test('one of two app boxes killed: ≤ max_fails failures, then all succeed; restarted → served again', async (t) => {
  const boxA = await startAppTier(t, { workers: 1 });
  const boxB = await startAppTier(t, { workers: 1 });
  const web = await startWebTier(t, {
    APP_UPSTREAMS: `${boxA.url},${boxB.url}`,
    WEB_PROXY_MAX_FAILS: String(MAX_FAILS),
    WEB_PROXY_FAIL_TIMEOUT_MS: '10000',
    WEB_PROXY_HEALTH_INTERVAL_MS: '400',
  });
  const servedBy = (box: typeof boxA): number => box.lines.filter((line) => line.msg === 'request').length;

  const load = await runLoad({
    url: `${web.url}/api/articles/`,
    amount: 2000,
    connections: 8,
    midway: {
      after: 300,
      run: () => {
        for (const pid of [boxB.child.pid ?? -1, ...boxB.workerPids]) process.kill(pid, 'SIGKILL');
      },
    },
  });
  await boxB.exited();
  t.comment(`box B killed mid-load: ${describeLoad(load)}`);
  t.ok(load.errors + load.non2xx <= MAX_FAILS, `failures (${load.errors + load.non2xx}) within the passive-health threshold (${MAX_FAILS})`);
  const retried = web.entry.lines.filter((line) => line['msg'] === 'upstream failed before answering; retrying' && line['upstream'] === boxB.url);
  t.ok(retried.length > 0, `the web tier logged ${retried.length} retries away from box B (${JSON.stringify(retried[0]?.['code'])})`);
  const linesAtKill = web.entry.lines.length;

  const afterKill = await runLoad({ url: `${web.url}/api/articles/`, amount: 500, connections: 8 });
  t.equal(afterKill.errors + afterKill.non2xx, 0, `with box B down every request succeeds: ${describeLoad(afterKill)}`);

  // Back on the same address: the active check takes it into rotation again.
  const port = new URL(boxB.url).port;
  const again = await startAppTier(t, { workers: 1, env: { APP_PORT: port } });
  await web.entry.waitForLine((line) => line['msg'] === 'upstream state changed' && line['upstream'] === boxB.url && line['to'] === 'up' && web.entry.lines.indexOf(line) >= linesAtKill);
  const restored = await runLoad({ url: `${web.url}/api/articles/`, amount: 400, connections: 8 });
  t.equal(restored.errors + restored.non2xx, 0, `after the restart: ${describeLoad(restored)}`);
  t.ok(servedBy(again) > 0, `the restarted box served ${servedBy(again)} of 400 requests`);
  t.ok(servedBy(boxA) > 0, 'box A kept serving');
});
