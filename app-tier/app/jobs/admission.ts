/**
 * APP_JOB_MAX_PENDING: how many report jobs may be queued or running at once. A POST over it is
 * 503 with Retry-After (RFC 9110 §15.6.4: the service as a whole is busy, not this client, so not
 * 429): without the bound, a client POSTing in a loop would add rows no retention may delete
 * (an unfinished job is never deleted) and steps for every process to run. The count and the
 * insert are two statements, so POSTs racing at the bound may pass it by as many as race.
 */
import { TwotierError } from '../../../common/errors.js';
import type { Store } from '../../store/types.js';
import type { JobRunner } from './runner.js';

/** A report takes a few steps of APP_REPORT_STEP_DELAY_MS (2 s by default): look again after a few. */
export const QUEUE_FULL_RETRY_AFTER_S = 5;

/** Throws APP_ERR_JOB_QUEUE_FULL when `maxPending` jobs are unfinished (0: no bound). */
export async function assertRoomForJob(store: Store, jobs: JobRunner, maxPending: number, budgetMs: number): Promise<void> {
  if (maxPending === 0) return;
  const pending = await store.unfinishedJobIds(maxPending);
  if (pending.length < maxPending) return;
  // A job moves only where a process keeps its timer or a poll asks (runner.ts): in CGI mode a job
  // nobody polls stays queued with every step due. Run the oldest's due steps, as a poll would,
  // before turning the client away; one job, so a refused POST costs one claim at most.
  await jobs.advance(pending[0] as string, budgetMs);
  if ((await store.unfinishedJobIds(maxPending)).length < maxPending) return;
  throw new TwotierError('APP_ERR_JOB_QUEUE_FULL', 'too many report jobs are queued or running; try again later', {
    headers: { 'Retry-After': String(QUEUE_FULL_RETRY_AFTER_S) },
  });
}
