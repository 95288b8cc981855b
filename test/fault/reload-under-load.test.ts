/**
 * Fault 1: the app tier's built-in rolling reload (SIGHUP to the primary) while a fixed load
 * runs through the web tier. Workers are replaced one at a time and admitted when ready, so
 * not one request may fail or get a non-2xx — GETs and POSTs alike.
 */
import t from 'tap';
import { describeLoad, runLoad, startStack } from '../helpers/load.js';

t.test('SIGHUP rolling reload of the app tier under load: 0 failed, 0 non-2xx', async (t) => {
  const { app, web } = await startStack(t, { appWorkers: 2 });
  let reloadSent = false;
  const get = await runLoad({
    url: `${web.url}/api/articles/`,
    amount: 3000,
    connections: 8,
    midway: {
      after: 300,
      run: () => {
        reloadSent = true;
        app.child.kill('SIGHUP');
      },
    },
  });
  t.ok(reloadSent, 'the reload was sent mid-load');
  const finished = await app.waitForLine((line) => line.msg === 'reload finished', 30_000);
  t.comment(`GET under reload: ${describeLoad(get)}; reload: ${JSON.stringify(finished)}`);
  t.equal(get.errors, 0, 'no GET failed');
  t.equal(get.non2xx, 0, 'no GET got a non-2xx');
  t.equal(get.responses, 3000);

  // A second reload under POSTs: a write must never be cut by a worker going away.
  const before = app.lines.filter((line) => line.msg === 'reload finished').length;
  const post = await runLoad({
    url: `${web.url}/api/echo`,
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ hello: 'reload' }),
    amount: 2000,
    connections: 8,
    midway: { after: 200, run: () => app.child.kill('SIGHUP') },
  });
  await app.waitForLine((line) => line.msg === 'reload finished' && app.lines.filter((l) => l.msg === 'reload finished').length > before, 30_000);
  t.comment(`POST under reload: ${describeLoad(post)}`);
  t.equal(post.errors, 0, 'no POST failed');
  t.equal(post.non2xx, 0, 'no POST got a non-2xx');
});
