/**
 * Fault 5: `kill -9` the whole app tier (primary and every worker at once) during a stream of
 * article POSTs through the web tier. Whatever was acknowledged with 201 was committed before
 * the answer (SQLite, synchronous=FULL), so after a restart on the same database every one of
 * those articles is there. Requests after the kill get 502/503 from the web tier: counted only.
 */
import t from 'tap';
import { startAppTier, tempDataDir } from '../helpers/app-tier.js';
import { describeLoad, fetchOnce, runLoad, startStack } from '../helpers/load.js';

t.test('kill -9 the app tier during POSTs: every 201-acknowledged article exists after restart', async (t) => {
  const dataDir = tempDataDir(t);
  const { app, web } = await startStack(t, { appWorkers: 2, dataDir });
  const acknowledged: number[] = [];
  let killed = false;
  const posts = await runLoad({
    url: `${web.url}/api/articles/`,
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: (index) => JSON.stringify({ title: `Fault five ${index} ${process.pid}`, body: 'acknowledged means stored', published: '2003-05-17T10:00:00.000Z' }),
    amount: 1500,
    connections: 6,
    onResponse: (status, body) => {
      if (status === 201) acknowledged.push((JSON.parse(body) as { id: number }).id);
    },
    midway: {
      after: 400,
      run: () => {
        killed = true;
        for (const pid of [app.child.pid ?? -1, ...app.workerPids]) process.kill(pid, 'SIGKILL');
      },
    },
  });
  t.ok(killed, 'the app tier was killed mid-stream');
  await app.exited();
  t.comment(`POSTs: ${describeLoad(posts)}; acknowledged with 201: ${acknowledged.length}`);
  t.ok(acknowledged.length >= 400, 'the writes before the kill were acknowledged');
  t.same(Object.keys(posts.statuses).filter((status) => !['201', '502', '503'].includes(status)), [], 'after the kill the web tier answers 502/503, nothing else');

  const again = await startAppTier(t, { dataDir, workers: 2 });
  const missing: number[] = [];
  for (const id of acknowledged) {
    const read = await fetchOnce(`${again.url}/api/articles/${id}/`);
    if (read.status !== 200) missing.push(id);
  }
  t.same(missing, [], `all ${acknowledged.length} acknowledged articles exist after the restart`);
});
