/**
 * Fault 2: `kill -9` one app worker mid-load. The primary forks a replacement; meanwhile the web
 * tier retries what failed before any response byte (a GET on a reset or refused connection) on
 * another try, so GETs must all succeed. A POST whose bytes reached the dying worker is never
 * replayed (it may have been applied): those failures are expected, counted and reported.
 */
import t from 'tap';
import { describeLoad, runLoad, startStack } from '../helpers/load.js';
import { alive } from '../helpers/web-tier.js';

t.test('kill -9 one app worker under GET load: 0 failed GETs; under POST load: failures counted', async (t) => {
  const { app, web } = await startStack(t, { appWorkers: 2 });
  const [first, second] = app.workerPids;
  t.ok(first !== undefined && second !== undefined, 'two workers');

  const get = await runLoad({
    url: `${web.url}/api/articles/`,
    amount: 3000,
    connections: 8,
    midway: { after: 500, run: () => process.kill(first!, 'SIGKILL') },
  });
  t.comment(`GET with worker ${first} killed: ${describeLoad(get)}`);
  t.notOk(alive(first!), 'the worker was killed');
  t.equal(get.errors, 0, 'no GET failed at the socket');
  t.equal(get.non2xx, 0, 'no GET got a non-2xx');
  const replaced = await app.waitForLine((line) => line.msg === 'worker died; replacing it' && line['workerPid'] === first);
  t.match(replaced, { level: 40, signal: 'SIGKILL' }, 'the primary logs the death as a warning and replaces the worker');

  const post = await runLoad({
    url: `${web.url}/api/echo`,
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ hello: 'kill -9' }),
    amount: 2000,
    connections: 8,
    midway: { after: 300, run: () => process.kill(second!, 'SIGKILL') },
  });
  const failedPosts = post.errors + post.non2xx;
  t.comment(`POST with worker ${second} killed: ${describeLoad(post)}; failed POSTs: ${failedPosts} of 2000 (not replayed: they reached the worker)`);
  // Only POSTs in flight on the killed worker (at most one per load connection), plus any written
  // to a pooled socket the dying worker had already closed, can fail: a generous bound.
  t.ok(failedPosts <= 16, `failed POSTs bounded by the connections in flight (${failedPosts} ≤ 2 × 8)`);
  t.same(Object.keys(post.statuses).filter((status) => status !== '200' && status !== '502'), [], 'a failed POST is a 502, never a 500 or a hang');
  t.equal(post.responses + post.errors >= 2000, true, 'every POST was answered or counted as failed');

  // The site is whole again afterwards.
  const after = await runLoad({ url: `${web.url}/api/articles/`, amount: 200, connections: 4 });
  t.equal(after.errors + after.non2xx, 0, `served after both kills: ${describeLoad(after)}`);
});
