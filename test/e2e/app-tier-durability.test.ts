import t from 'tap';
import { send, startAppTier, tempDataDir } from '../helpers/app-tier.js';

interface Article { id: number; title: string; slug: string; published: string }

t.test('a write acknowledged with 201 survives kill -9 of the whole app tier and a restart', async (t) => {
  const dataDir = tempDataDir(t);
  const first = await startAppTier(t, { dataDir, workers: 2 });
  const created = await send(`${first.url}/api/articles/`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Connection: 'close' },
    body: JSON.stringify({ title: 'Survives kill -9', body: 'fsynced before the 201', published: '2003-05-17T10:00:00.000Z' }),
  });
  t.equal(created.status, 201);
  const article = created.json<Article>();
  t.equal(created.headers.location, `/api/articles/${article.id}/`);

  // No chance to flush or checkpoint: the primary and every worker die at once. (A process
  // kill leaves the OS page cache intact, so this proves the commit happened before the 201,
  // not the fsync; synchronous=FULL covers power loss, which a test here cannot cause.)
  for (const pid of [first.child.pid ?? -1, ...first.workerPids]) process.kill(pid, 'SIGKILL');
  const { signal } = await first.exited();
  t.equal(signal, 'SIGKILL');

  const second = await startAppTier(t, { dataDir, workers: 2 });
  const read = await send(`${second.url}/api/articles/${article.id}/`, { headers: { Connection: 'close' } });
  t.equal(read.status, 200);
  t.match(read.json<Article>(), { id: article.id, title: 'Survives kill -9', slug: 'survives-kill-9' });
  const migrated = second.lines.filter((line) => line.msg === 'store migration applied' || line.msg === 'store seeded');
  t.same(migrated, [], 'the restart finds the schema and seed in place');
  second.child.kill('SIGTERM');
  t.equal((await second.exited()).code, 0);
});
