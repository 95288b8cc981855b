/**
 * 202 Accepted, as RFC 9110 §15.3.3 describes it: POST /api/reports/ accepts a word count over
 * all articles for processing and answers at once, with the job's URL in Location and
 * Retry-After (§10.2.3) saying when to look. The job answers 200 with its state while it runs
 * and 303 See Other (§15.4.4) to the report once it is done; the report is an ordinary
 * resource, read with GET. Jobs are rows in the store (jobs/runner.ts), so they outlive the
 * worker that accepted them. The write needs the bearer token when APP_TOKEN is set, like every
 * other API write, and a JSON Content-Type, which a cross-site form cannot send without CORS.
 */
import { randomUUID } from 'node:crypto';
import { TwotierError } from '../../../common/errors.js';
import type { Job } from '../../store/jobs.js';
import { requireBearer } from '../auth.js';
import type { ViewContext, View } from '../context.js';
import { POLL_BUDGET_MS } from '../jobs/runner.js';
import { newWordCountJob, workersOf, type WordCountReport } from '../jobs/word-count.js';
import { parseMediaType, readJson } from '../request-body.js';
import { json } from '../responses.js';

/** Seconds a client should wait between polls (a report takes a few steps of APP_REPORT_STEP_DELAY_MS). */
export const POLL_AFTER_S = 1;

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

export const createReport: View = async (ctx) => {
  requireBearer(ctx.request.headers, ctx.deps.appToken);
  requireJsonRequest(ctx);
  const job = await ctx.deps.store.createJob(await newWordCountJob(ctx.deps.store, randomUUID(), Date.now() + ctx.deps.reportStepDelayMs));
  ctx.deps.jobs.drive(job.id);
  const location = ctx.deps.reverse('report-job', { id: job.id });
  return json(202, { ...jobView(ctx, job), acceptedBy: ctx.deps.workerPid }, { Location: location, 'Retry-After': String(POLL_AFTER_S) });
};

export const reportJob: View = async (ctx) => {
  const id = ctx.params['id'] as string;
  let job = await ctx.deps.store.getJob(id);
  if (job === null) throw jobNotFound(id);
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
  const job = await ctx.deps.store.getJob(id);
  if (job === null) throw jobNotFound(id);
  if (job.state !== 'done' || job.result === null) {
    throw new TwotierError('APP_ERR_NOT_FOUND', `report ${id} is not ready; its job is ${ctx.deps.reverse('report-job', { id })}`);
  }
  return { job, report: JSON.parse(job.result) as WordCountReport };
}

export const report: View = async (ctx) => {
  const { job, report: result } = await finishedReport(ctx);
  const { counts: _counts, ...summary } = result;
  return json(200, { id: job.id, ...summary, finishedAt: job.finishedAt, job: ctx.deps.reverse('report-job', { id: job.id }) }, { 'Cache-Control': 'max-age=3600' });
};

/** One word's count; `<str:word>` takes any text but "/", so "café" or "don't" work where `slug` would refuse them. */
export const reportWord: View = async (ctx) => {
  const { job, report: result } = await finishedReport(ctx);
  const word = (ctx.params['word'] as string).toLowerCase();
  return json(200, { word, count: result.counts[word] ?? 0, report: ctx.deps.reverse('report', { id: job.id }) });
};
