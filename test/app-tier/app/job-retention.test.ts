/**
 * Report jobs are not kept forever (Celery's result_expires, RQ's result_ttl): a finished job
 * (done or failed) whose last update is older than APP_JOB_RETENTION_SEC answers 404 like a job
 * that never existed, and is deleted, with its report, by the next POST /api/reports/ (every mode,
 * CGI too) or by the sweep timer of a process that lives on. A queued or running job is never
 * deleted. APP_JOB_MAX_PENDING bounds the jobs not yet finished, so a client POSTing in a loop
 * cannot grow the table either. Real SQLite files; the clock retention reads is injected.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../../common/logger.js';
import { createApp, type CreateAppOptions } from '../../../app-tier/app/create-app.js';
import { createJobRetention, SWEEP_BATCH } from '../../../app-tier/app/jobs/retention.js';
import { newWordCountJob } from '../../../app-tier/app/jobs/word-count.js';
import { openStore, type Store } from '../../../app-tier/store/index.js';
import { answer, appRequest, type Answer } from './fixture.js';

const logger = createLogger({ tier: 'app', level: 'silent' });
const JSON_HEADERS = { 'content-type': 'application/json' };
const UNKNOWN = '/api/reports/jobs/00000000-0000-4000-8000-000000000000/';

async function sqliteStore(t: Test): Promise<Store> {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-job-retention-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = await openStore(`sqlite:${join(dir, 'twotier.db')}`, { logger, seed: false });
  for (const body of ['the cat', 'the hat', 'a cat']) await store.createArticle({ title: 'T', body });
  return store;
}

/** A settable clock for the app's job retention (epoch ms). */
function clock(): { now: () => number; set(ms: number): void } {
  let current = Date.now();
  return { now: () => current, set: (ms) => { current = ms; } };
}

function app(t: Test, store: Store, options: Partial<CreateAppOptions>): (target: string, init?: Parameters<typeof appRequest>[1]) => Promise<Answer> {
  const created = createApp({ store, logger, ...options });
  t.teardown(() => created.close());
  return async (target, init) => answer(await created.handle(appRequest(target, init)));
}

async function until<T>(what: () => Promise<T>, done: (value: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await what();
    if (done(value) || Date.now() > end) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const post = { method: 'POST', headers: JSON_HEADERS, body: '{}' };

/** A finished report: its id and URLs, and when it was last updated (epoch ms). */
async function finishedReport(send: Awaited<ReturnType<typeof app>>): Promise<{ id: string; job: string; report: string; updatedAt: number }> {
  const accepted = await send('/api/reports/', post);
  const job = accepted.header('location') ?? '';
  const done = await until(() => send(job), (reply) => reply.status === 303);
  if (done.status !== 303) throw new Error(`the report did not finish (${done.status})`);
  return { id: accepted.json().id as string, job, report: done.header('location') ?? '', updatedAt: Date.parse(done.json().updatedAt as string) };
}

t.test('a finished report past its retention answers 404 like an unknown job; the next POST deletes it', async (t) => {
  const store = await sqliteStore(t);
  const time = clock();
  const send = app(t, store, { reportStepDelayMs: 0, jobRetentionSec: 60, now: time.now });
  const { id, job, report, updatedAt } = await finishedReport(send);

  time.set(updatedAt + 20_000);
  t.equal((await send(report)).header('cache-control'), 'max-age=40', 'cached no longer than it is kept');
  time.set(updatedAt + 60_000);
  t.equal((await send(job)).status, 303, 'exactly 60 s after its last update: kept');
  t.equal((await send(report)).status, 200);
  t.equal((await send(`${report}words/cat/`)).status, 200);

  time.set(updatedAt + 60_001);
  const unknown = await send(UNKNOWN);
  for (const url of [job, report, `${report}words/cat/`]) {
    const expired = await send(url);
    t.equal(expired.status, 404, `${url}: 404 once expired`);
    t.same(Object.keys(expired.json().error), Object.keys(unknown.json().error), 'the JSON error shape of any other 404');
    t.match(expired.json().error, { status: 404, code: 'APP_ERR_NOT_FOUND', requestId: 'req-test-1' });
    t.equal(expired.header('cache-control'), unknown.header('cache-control'));
  }
  t.ok(await store.getJob(id), 'hidden before it is swept');
  t.equal((await send('/api/reports/', post)).status, 202);
  t.equal(await store.getJob(id), null, 'the POST deleted it, report and all');
});

t.test('a failed job expires too; queued and running jobs never expire nor are deleted, however old', async (t) => {
  const store = await sqliteStore(t);
  const time = clock();
  const send = app(t, store, { reportStepDelayMs: 60_000, jobRetentionSec: 60, now: time.now });
  const failed = await store.createJob({ id: '7c1d0a3e-0000-4000-8000-000000000001', kind: 'no-such-kind', total: 1, data: '{}', nextStepAt: 0 });
  t.match((await send(`/api/reports/jobs/${failed.id}/`)).json(), { state: 'failed' }, 'its one step failed');
  const queued = await store.createJob(await newWordCountJob(store, '7c1d0a3e-0000-4000-8000-000000000002', Date.now() + 3_600_000));
  const running = await store.createJob(await newWordCountJob(store, '7c1d0a3e-0000-4000-8000-000000000003', 0));
  t.ok(await store.claimJob(running.id, 'elsewhere', Date.now(), Date.now() + 3_600_000), 'another process runs its step');

  time.set(Date.now() + 10 * 365 * 86_400_000);
  t.equal((await send(`/api/reports/jobs/${failed.id}/`)).status, 404, 'failed, past its retention: 404');
  t.match(await send(`/api/reports/jobs/${queued.id}/`), { status: 200 }, 'a queued job ten years on: still there');
  t.match(await send(`/api/reports/jobs/${running.id}/`), { status: 200 }, 'a step running elsewhere ten years on: still there');
  t.equal((await send('/api/reports/', post)).status, 202);
  t.equal(await store.getJob(failed.id), null, 'the failed job was deleted');
  t.match(await store.getJob(queued.id), { state: 'queued' }, 'the queued job was not');
  t.match(await store.getJob(running.id), { leaseOwner: 'elsewhere' }, 'nor the running one');
});

t.test('APP_JOB_RETENTION_SEC=0 keeps every job forever', async (t) => {
  const store = await sqliteStore(t);
  const time = clock();
  const send = app(t, store, { reportStepDelayMs: 0, jobRetentionSec: 0, now: time.now });
  const { id, job, report, updatedAt } = await finishedReport(send);
  time.set(updatedAt + 100 * 365 * 86_400_000);
  t.equal((await send(job)).status, 303);
  const kept = await send(report);
  t.equal(kept.status, 200);
  t.equal(kept.header('cache-control'), 'max-age=3600');
  t.equal((await send('/api/reports/', post)).status, 202);
  t.ok(await store.getJob(id), 'never deleted');
});

t.test('APP_JOB_MAX_PENDING: one POST more than the bound is 503 with Retry-After, nothing stored; a finished job frees its slot', async (t) => {
  const store = await sqliteStore(t);
  // Steps an hour apart: nothing finishes by itself during the test.
  const send = app(t, store, { reportStepDelayMs: 3_600_000, jobMaxPending: 2 });
  const first = await send('/api/reports/', post);
  t.equal(first.status, 202);
  t.equal((await send('/api/reports/', post)).status, 202);
  const full = await send('/api/reports/', post);
  t.equal(full.status, 503, 'a third job while two are queued');
  t.match(full.header('retry-after'), /^[1-9]\d*$/, 'Retry-After in seconds (RFC 9110 §10.2.3)');
  t.match(full.json(), { error: { status: 503, code: 'APP_ERR_JOB_QUEUE_FULL', requestId: 'req-test-1' } });
  t.equal((await store.unfinishedJobIds(10)).length, 2, 'the refused POST stored nothing');

  const id = first.json().id as string;
  t.ok(await store.claimJob(id, 'w', 9_999_999_999_999, 9_999_999_999_999));
  t.ok(await store.finishJobStep(id, 'w', { state: 'done', done: 3, data: '{}', result: '{}', error: null, nextStepAt: 0 }));
  t.equal((await send('/api/reports/', post)).status, 202, 'one finished: room for one more');
  t.equal((await send('/api/reports/', post)).status, 503);
});

t.test('at the bound, the POST first runs the due steps of jobs nobody drives (CGI: accepted, never polled)', async (t) => {
  const store = await sqliteStore(t);
  // Two jobs whose accepting processes are gone: no timer anywhere, every step due.
  for (const n of [1, 2]) await store.createJob(await newWordCountJob(store, `8d2e1b4f-0000-4000-8000-00000000000${n}`, 0));
  const send = app(t, store, { reportStepDelayMs: 0, jobMaxPending: 2 });
  t.equal((await send('/api/reports/', post)).status, 202, 'accepted once the oldest had finished');
  t.match(await store.getJob('8d2e1b4f-0000-4000-8000-000000000001'), { state: 'done' }, 'the POST finished the oldest');
});

t.test('a process that lives on sweeps on a timer, in batches until none is left; close() stops it', async (t) => {
  const store = await sqliteStore(t);
  let deletes = 0;
  const counted: Store = Object.assign(Object.create(store) as Store, {
    deleteFinishedJobs: (before: string, limit: number) => {
      deletes += 1;
      return store.deleteFinishedJobs(before, limit);
    },
  });
  const ids: string[] = [];
  for (let n = 0; n < SWEEP_BATCH + 5; n += 1) {
    const id = `9e3f2c50-0000-4000-8000-${String(n).padStart(12, '0')}`;
    await store.createJob({ id, kind: 'no-such-kind', total: 1, data: '{}', nextStepAt: 0 });
    await store.claimJob(id, 'w', 0, 1);
    await store.finishJobStep(id, 'w', { state: 'failed', done: 0, data: '{}', result: null, error: 'x', nextStepAt: 0 });
    ids.push(id);
  }
  const retention = createJobRetention({ store: counted, logger, retentionSec: 60, now: () => Date.now() + 3_600_000, sweepIntervalMs: 20 });
  t.teardown(() => retention.close());
  const left = await until(async () => (await Promise.all(ids.map((id) => store.getJob(id)))).filter((job) => job !== null).length, (n) => n === 0);
  t.equal(left, 0, `all ${ids.length} deleted by the timer alone (no POST)`);
  t.ok(deletes >= 2, 'more than one batch');
  retention.close();
  const after = deletes;
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.equal(deletes, after, 'no sweep after close()');
});
