/**
 * 202 Accepted jobs (issue 17): POST /api/reports/ → 202 + Location + Retry-After; the job → 200
 * with its state while it runs, 303 to the report when done; the report and one word of it.
 * Jobs live in the store, so another app over the same store (another worker) finishes a job
 * whose first app was closed mid-way.
 */
import t from 'tap';
import { createLogger } from '../../../common/logger.js';
import { createApp } from '../../../app-tier/app/create-app.js';
import { createMemoryStore } from '../../helpers/memory-store.js';
import { answer, appRequest, harness } from './fixture.js';

const JSON_HEADERS = { 'content-type': 'application/json' };
const ARTICLES = [
  { title: 'One', body: 'the cat and the hat', published: '2003-05-17T10:00:00Z' },
  { title: 'Two', body: 'The café; don’t panic', published: '2003-05-18T10:00:00Z' },
  { title: 'Three', body: 'cat cat cat', published: '2003-06-01T10:00:00Z' },
];

async function until<T>(what: () => Promise<T>, done: (value: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await what();
    if (done(value) || Date.now() > end) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

t.test('202 with Location and Retry-After, 200 while running, 303 to the report, the report', async (t) => {
  // Steps 1 s apart: "polled at once" must come before the first step even on a loaded machine
  // (at 50 ms the job had finished before the first poll under load 30; assertions unchanged).
  const h = harness(t, { articles: ARTICLES, reportStepDelayMs: 1_000 });
  const accepted = await h.send('/api/reports/', { method: 'POST', headers: JSON_HEADERS, body: '{}' });
  t.equal(accepted.status, 202);
  const location = accepted.header('location') ?? '';
  t.match(location, /^\/api\/reports\/jobs\/[0-9a-f-]{36}\/$/, 'Location names the job (uuid converter)');
  t.equal(accepted.header('retry-after'), '1');
  t.match(accepted.json(), { state: 'queued', progress: { done: 0, total: 3 }, url: location });

  const first = await h.send(location);
  t.equal(first.status, 200, 'polled at once: not done yet');
  t.ok(['queued', 'running'].includes(first.json().state));
  t.equal(first.header('retry-after'), '1');

  const finished = await until(() => h.send(location), (reply) => reply.status !== 200);
  t.equal(finished.status, 303, 'done: 303 See Other');
  const reportUrl = finished.header('location') ?? '';
  t.equal(reportUrl, location.replace('/jobs/', '/'));
  t.match(finished.json(), { state: 'done', progress: { done: 3, total: 3 }, result: reportUrl });
  t.ok(finished.json().steps >= 3, `one article per step here (${finished.json().steps} steps)`);

  const report = await h.send(reportUrl);
  t.equal(report.status, 200);
  // Titles count too: one two three + the bodies.
  t.match(report.json(), { articles: 3, words: 3 + 5 + 4 + 3, topWords: [{ word: 'cat', count: 4 }, { word: 'the', count: 3 }] });
  t.equal((await h.send(`${reportUrl}words/caf%C3%A9/`)).json().count, 1, '<str:word> takes "café" (slug would not)');
  t.equal((await h.send(`${reportUrl}words/don’t/`)).json().count, 1);
  t.equal((await h.send(`${reportUrl}words/nothing/`)).json().count, 0);
});

t.test('writes need the token; the body must be JSON; unknown jobs are 404', async (t) => {
  const h = harness(t, { articles: ARTICLES, appToken: 'tok' });
  const bare = await h.send('/api/reports/', { method: 'POST', headers: JSON_HEADERS, body: '{}' });
  t.equal(bare.status, 401);
  t.equal(bare.header('www-authenticate'), 'Bearer realm="twotier"');
  t.equal((await h.send('/api/reports/', { method: 'POST', headers: { ...JSON_HEADERS, authorization: 'Bearer nope' }, body: '{}' })).status, 401);
  t.equal((await h.send('/api/reports/', { method: 'POST', headers: { authorization: 'Bearer tok', 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=b' })).status, 415, 'a form (what a cross-site page can send) is refused');
  t.equal((await h.send('/api/reports/', { method: 'POST', headers: { authorization: 'Bearer tok' } })).status, 415, 'no Content-Type either');
  t.equal((await h.send('/api/reports/', { method: 'POST', headers: { ...JSON_HEADERS, authorization: 'Bearer tok' } })).status, 202, 'an empty JSON request is the default report');
  t.equal((await h.send('/api/reports/', { method: 'POST', headers: { ...JSON_HEADERS, authorization: 'Bearer tok' }, body: '[]' })).status, 400);
  t.equal((await h.send('/api/reports/jobs/00000000-0000-4000-8000-000000000000/')).status, 404);
  t.equal((await h.send('/api/reports/jobs/not-a-uuid/')).status, 404, 'the uuid converter refuses it');
  t.equal((await h.send('/api/reports/', { headers: JSON_HEADERS })).status, 405);
});

t.test('a job outlives the app that accepted it: another app over the same store finishes it', async (t) => {
  const store = createMemoryStore({ articles: ARTICLES });
  // Each app closes only its own view of the store, as two processes over one database do.
  const shared = () => Object.assign(Object.create(store) as typeof store, { close: async () => undefined });
  const logger = createLogger({ tier: 'app', level: 'silent' });
  const first = createApp({ store: shared(), logger, reportStepDelayMs: 30, worker: { pid: 1111 } });
  const accepted = await answer(await first.handle(appRequest('/api/reports/', { method: 'POST', headers: JSON_HEADERS, body: '{}' })));
  t.equal(accepted.json().acceptedBy, 1111);
  const id = accepted.json().id as string;
  await until(() => store.getJob(id), (job) => (job?.steps ?? 0) >= 1);
  await first.close();
  const stopped = await store.getJob(id);
  t.equal(stopped?.state, 'running', 'the first app stopped mid-job');

  const second = createApp({ store: shared(), logger, reportStepDelayMs: 30, worker: { pid: 2222 } });
  t.teardown(() => second.close());
  const done = await until(
    async () => answer(await second.handle(appRequest(accepted.header('location') ?? ''))),
    (reply) => reply.status === 303,
  );
  t.equal(done.status, 303, 'the second app finished it');
  t.same(done.json().workers, [1111, 2222], 'steps were run by the first worker, then the second');
});

t.test('a step whose process died holding the lease is taken over once the lease expires', async (t) => {
  const store = createMemoryStore({ articles: ARTICLES });
  const logger = createLogger({ tier: 'app', level: 'silent' });
  // Steps 200 ms apart, so the job cannot finish before the test's claim below (with 10 ms the app's own
  // timer ran all three steps first on a busy CI machine and the claim never found a step to hold).
  const app = createApp({ store, logger, reportStepDelayMs: 200, jobLeaseMs: 300, worker: { pid: 3333 } });
  t.teardown(() => app.close());
  const accepted = await answer(await app.handle(appRequest('/api/reports/', { method: 'POST', headers: JSON_HEADERS, body: '{}' })));
  const id = accepted.json().id as string;
  // A dead process's lease: claimed by someone who never finishes the step.
  // Claimed as of a moment past the step's due time and any lease the app holds now: the dead process
  // takes the step whatever the app's timer did first.
  const claimed = await until(() => store.claimJob(id, 'dead/0', Date.now() + 1_000, Date.now() + 300), (job) => job !== null);
  t.ok(claimed, 'the dead worker held the step');
  const done = await until(async () => answer(await app.handle(appRequest(accepted.header('location') ?? ''))), (reply) => reply.status === 303);
  t.equal(done.status, 303, 'finished after the lease ran out');
  t.equal(done.json().progress.done, 3);
});
