import t from 'tap';
import { send, startAppTier } from '../helpers/app-tier.js';

interface Echo { worker: { pid: number; port: number } }

t.test('at least two worker pids answer; the primary serves nothing itself', async (t) => {
  const app = await startAppTier(t, { workers: 2 });
  t.equal(app.workerPids.length, 2);
  t.notOk(app.workerPids.includes(app.child.pid ?? -1), 'the primary is not a worker');
  const pids = new Set<number>();
  // Round-robin over fresh connections: a bounded number of tries is plenty.
  for (let attempt = 0; attempt < 20 && pids.size < 2; attempt += 1) {
    const reply = await send(`${app.url}/api/echo`, { headers: { Connection: 'close' } });
    t.equal(reply.status, 200);
    const echo = reply.json<Echo>();
    t.equal(echo.worker.port, app.port, 'every worker answers on the one shared port');
    pids.add(echo.worker.pid);
  }
  t.equal(pids.size, 2, `distinct pids: ${[...pids].join(', ')}`);
  for (const pid of pids) t.ok(app.workerPids.includes(pid));

  const access = await app.waitForLine((line) => line.msg === 'request' && line['url'] === '/api/echo');
  t.match(access, { method: 'GET', status: 200, tier: 'app', role: 'worker' });
  t.type(access['ms'], 'number');
  t.type(access['reqId'], 'string');
});

t.test('a SIGKILLed worker is replaced and requests keep succeeding', async (t) => {
  const app = await startAppTier(t, { workers: 2 });
  const [victim] = app.workerPids;
  if (victim === undefined) throw new Error('no worker pid');
  process.kill(victim, 'SIGKILL');
  const died = await app.waitForLine((line) => line.msg === 'worker died; replacing it' && line['workerPid'] === victim);
  t.equal(died['signal'], 'SIGKILL');
  const replacement = await app.waitForLine((line) => line.msg === 'worker listening' && !app.workerPids.includes(line.pid ?? -1));
  t.not(replacement.pid, victim, 'a new worker listens');
  const seen = new Set<number>();
  for (let attempt = 0; attempt < 10; attempt += 1) {
    const reply = await send(`${app.url}/api/echo`, { headers: { Connection: 'close' } });
    t.equal(reply.status, 200, 'served after the replacement');
    seen.add(reply.json<Echo>().worker.pid);
  }
  t.notOk(seen.has(victim), 'the dead worker answers nothing');
  t.ok(seen.has(replacement.pid ?? -1), 'the replacement takes requests');
});

t.test('SIGTERM: workers drain and exit, the primary exits 0', async (t) => {
  const app = await startAppTier(t, { workers: 2 });
  t.equal((await send(`${app.url}/healthz`)).status, 200);
  app.child.kill('SIGTERM');
  const { code, signal } = await app.exited();
  t.equal(code, 0);
  t.equal(signal, null);
  for (const pid of app.workerPids) {
    t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `worker ${pid} is gone`);
  }
  t.equal(app.stderr(), '');
});

t.test('SIGHUP: rolling reload replaces every worker while requests keep succeeding', async (t) => {
  const app = await startAppTier(t, { workers: 2 });
  let finished = false;
  const done = app.waitForLine((line) => line.msg === 'reload finished').then((line) => {
    finished = true;
    return line;
  });
  app.child.kill('SIGHUP');
  const statuses = new Map<number, number>();
  for (let attempt = 0; attempt < 300 && !finished; attempt += 1) {
    const reply = await send(`${app.url}/api/echo`, { headers: { Connection: 'close' } });
    statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
  }
  const line = await done;
  t.same([...statuses.keys()], [200], `every request during the reload answered 200: ${JSON.stringify([...statuses])}`);
  const fresh = line['workers'] as number[];
  t.equal(fresh.length, 2);
  for (const pid of fresh) t.notOk(app.workerPids.includes(pid), `worker ${pid} is new`);
  t.notOk(app.lines.some((entry) => entry.msg === 'worker died; replacing it'), 'retired workers are not "replaced" again');
  const after = await send(`${app.url}/api/echo`, { headers: { Connection: 'close' } });
  t.ok(fresh.includes(after.json<Echo>().worker.pid));
});
