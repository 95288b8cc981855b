/**
 * 202 Accepted, as RFC 9110 §15.3.3 describes it: POST /api/reports/ accepts a word count over
 * all articles for processing and answers at once, with the job's URL in Location and
 * Retry-After (§10.2.3) saying when to look. The job answers 200 with its state while it runs
 * and 303 See Other (§15.4.4) to the report once it is done; the report is an ordinary
 * resource, read with GET. Jobs are rows in the store (jobs/runner.ts), so they outlive the
 * worker that accepted them. The write needs the bearer token when APP_TOKEN is set, like every
 * other API write, and a JSON Content-Type, which a cross-site form cannot send without CORS.
 * A finished job is kept APP_JOB_RETENTION_SEC (jobs/retention.ts), then answers 404 like one
 * that never existed; APP_JOB_MAX_PENDING bounds the unfinished ones (jobs/admission.ts).
 */
import { randomUUID } from 'node:crypto';
import { TwotierError } from '../../../common/errors.js';
import type { Job } from '../../store/jobs.js';
import { requireBearer } from '../auth.js';
import type { ViewContext, View } from '../context.js';
import { assertRoomForJob } from '../jobs/admission.js';
import { POLL_BUDGET_MS } from '../jobs/runner.js';
import { newWordCountJob, workersOf, type WordCountReport } from '../jobs/word-count.js';
import { parseMediaType, readJson } from '../request-body.js';
import { json } from '../responses.js';

/** Seconds a client should wait between polls (a report takes a few steps of APP_REPORT_STEP_DELAY_MS). */
export const POLL_AFTER_S = 1;
/** A finished report never changes: an hour in caches, never past its retention (it is 404 from then on). */
const REPORT_MAX_AGE_S = 3_600;

function requireJsonRequest(ctx: ViewContext): void {
  const { headers, body } = ctx.request;
  if (body.byteLength > 0) {
    const options = readJson(headers, body);
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw new TwotierError('APP_ERR_VALIDATION', 'the body must be a JSON object ({} asks for the default report)');
    }
    return;
  }
  const media = parseMediaType(headers['content-type']);
  if (media === null || !(media.type === 'application/json' || media.type.endsWith('+json'))) readJson(headers, body);
}

function jobView(ctx: ViewContext, job: Job): Record<string, unknown> {
  const { id, kind, state, total, done, steps, createdAt, updatedAt, finishedAt } = job;
  const view: Record<string, unknown> = {
    id, kind, state, progress: { done, total }, steps, workers: workersOf(job.data), createdAt, updatedAt, finishedAt,
    url: ctx.deps.reverse('report-job', { id }),
  };
  if (state === 'done') view['result'] = ctx.deps.reverse('report', { id });
  if (job.error !== null) view['error'] = job.error;
  return view;
}

function jobNotFound(id: string): TwotierError {
  return new TwotierError('APP_ERR_NOT_FOUND', `no report job ${id}`);
}

/**
 * The job, or 404. An expired one is 404 too, with the same message, whether or not a sweep has
 * deleted its row yet: a deleted job leaves nothing to tell it from an id never issued, so 410
 * Gone could be answered only until the sweep, and the same URL would change its answer.
 */
async function findJob(ctx: ViewContext, id: string): Promise<Job> {
  const job = await ctx.deps.store.getJob(id);
  if (job === null || ctx.deps.jobRetention.expired(job)) throw jobNotFound(id);
  return job;
}

export const createReport: View = async (ctx) => {
  requireBearer(ctx.request.headers, ctx.deps.appToken);
  requireJsonRequest(ctx);
  // One batch of expired jobs goes with each new one: the only sweep in CGI mode.
  await ctx.deps.jobRetention.sweep();
  await assertRoomForJob(ctx.deps.store, ctx.deps.jobs, ctx.deps.jobMaxPending, POLL_BUDGET_MS);
  const job = await ctx.deps.store.createJob(await newWordCountJob(ctx.deps.store, randomUUID(), Date.now() + ctx.deps.reportStepDelayMs));
  ctx.deps.jobs.drive(job.id);
  const location = ctx.deps.reverse('report-job', { id: job.id });
  return json(202, { ...jobView(ctx, job), acceptedBy: ctx.deps.workerPid }, { Location: location, 'Retry-After': String(POLL_AFTER_S) });
};

export const reportJob: View = async (ctx) => {
  const id = ctx.params['id'] as string;
  let job = await findJob(ctx, id);
  if (job.state === 'queued' || job.state === 'running') {
    // Due steps run now, here: a job whose driving process died (or exited, in CGI mode) moves on.
    await ctx.deps.jobs.advance(id, POLL_BUDGET_MS);
    ctx.deps.jobs.drive(id);
    job = (await ctx.deps.store.getJob(id)) ?? job;
  }
  const view = jobView(ctx, job);
  if (job.state === 'done') return json(303, view, { Location: view['result'] as string });
  return json(200, view, job.state === 'failed' ? {} : { 'Retry-After': String(POLL_AFTER_S) });
};

async function finishedReport(ctx: ViewContext): Promise<{ job: Job; report: WordCountReport }> {
  const id = ctx.params['id'] as string;
  const job = await findJob(ctx, id);
  if (job.state !== 'done' || job.result === null) {
    throw new TwotierError('APP_ERR_NOT_FOUND', `report ${id} is not ready; its job is ${ctx.deps.reverse('report-job', { id })}`);
  }
  return { job, report: JSON.parse(job.result) as WordCountReport };
}

export const report: View = async (ctx) => {
  const { job, report: result } = await finishedReport(ctx);
  const { counts: _counts, ...summary } = result;
  const maxAge = Math.min(REPORT_MAX_AGE_S, ctx.deps.jobRetention.secondsLeft(job));
  return json(200, { id: job.id, ...summary, finishedAt: job.finishedAt, job: ctx.deps.reverse('report-job', { id: job.id }) }, { 'Cache-Control': `max-age=${maxAge}` });
};

/** One word's count; `<str:word>` takes any text but "/", so "café" or "don't" work where `slug` would refuse them. */
export const reportWord: View = async (ctx) => {
  const { job, report: result } = await finishedReport(ctx);
  const word = (ctx.params['word'] as string).toLowerCase();
  return json(200, { word, count: result.counts[word] ?? 0, report: ctx.deps.reverse('report', { id: job.id }) });
};
