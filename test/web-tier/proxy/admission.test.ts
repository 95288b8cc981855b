import t from 'tap';
import { createAdmission, type Refusal } from '../../../web-tier/proxy/admission.js';
import { createUpstreamPool, type Upstream } from '../../../web-tier/proxy/pool.js';

function setup(maxActivePerUpstream: number, maxQueue: number, queueTimeoutMs = 60_000) {
  const pool = createUpstreamPool(['http://a:1', 'http://b:1'], { maxActivePerUpstream });
  const admission = createAdmission(pool, { maxQueue, queueTimeoutMs });
  const log: string[] = [];
  const admit = (name: string): { cancel(): void } => admission.admit(undefined, (upstream) => log.push(`${name}→${new URL(upstream.url).hostname}`), (reason: Refusal) => log.push(`${name}:${reason}`));
  return { pool, admission, log, admit };
}

t.test('free slots are handed out at once; then requests wait in arrival order', async (t) => {
  const { pool, admission, log, admit } = setup(1, 10);
  admit('r1');
  admit('r2');
  t.same(log, ['r1→a', 'r2→b'], 'synchronous while there is room');
  admit('r3');
  admit('r4');
  t.equal(admission.queued(), 2);
  t.match(pool.states(), [{ active: 1, queued: 2 }, { active: 1, queued: 2 }]);
  admission.release(pool.upstreams[1] as Upstream);
  t.same(log.slice(2), ['r3→b'], 'the longest waiter gets the freed slot');
  admission.release(pool.upstreams[0] as Upstream);
  t.same(log.slice(3), ['r4→a']);
  t.equal(admission.queued(), 0);
});

t.test('a full queue refuses; a cancelled waiter gives its place up', async (t) => {
  const { pool, admission, log, admit } = setup(1, 1);
  admit('r1');
  admit('r2');
  const waiter = admit('r3');
  admit('r4');
  t.same(log.slice(2), ['r4:queue-full']);
  waiter.cancel();
  t.equal(admission.queued(), 0);
  admission.release(pool.upstreams[0] as Upstream);
  t.same(log.slice(3), [], 'the cancelled waiter is never admitted');
  t.match(pool.states()[0], { active: 0 });
});

t.test('a waiter times out after queueTimeoutMs', { timeout: 5000 }, async (t) => {
  const { admission, log, admit } = setup(1, 5, 50);
  admit('r1');
  admit('r2');
  await new Promise<void>((resolve) => {
    admission.admit(undefined, () => resolve(), (reason) => {
      log.push(`r3:${reason}`);
      resolve();
    });
  });
  t.same(log.slice(2), ['r3:queue-timeout']);
  t.equal(admission.queued(), 0);
});

t.test('when the last healthy upstream goes down, waiters are refused at once as unavailable', async (t) => {
  const pool = createUpstreamPool(['http://a:1'], { maxActivePerUpstream: 1, passiveHealth: { maxFails: 1, failTimeoutMs: 60_000 } });
  const admission = createAdmission(pool, { maxQueue: 5, queueTimeoutMs: 60_000 });
  const log: string[] = [];
  admission.admit(undefined, () => log.push('r1'), () => log.push('r1 refused'));
  admission.admit(undefined, () => log.push('r2'), (reason) => log.push(`r2:${reason}`));
  pool.reportFailure(pool.upstreams[0] as Upstream, 'ECONNREFUSED');
  t.same(log, ['r1', 'r2:unavailable']);
  admission.admit(undefined, () => log.push('r3'), (reason) => log.push(`r3:${reason}`));
  t.same(log.slice(2), ['r3:unavailable']);
});

t.test('close() refuses every waiter', async (t) => {
  const { admission, log, admit } = setup(1, 5);
  admit('r1');
  admit('r2');
  admit('r3');
  admission.close();
  t.same(log.slice(2), ['r3:unavailable']);
});
