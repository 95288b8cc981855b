/**
 * Runs background jobs (202 Accepted) in steps, from the database, in whichever process is at
 * hand. A step is claimed with a lease (Store.claimJob: one UPDATE, one winner), run, and its
 * outcome written with the lease freed; the job's next step is due `stepDelayMs` later.
 *
 * Nothing about a job lives only in a process: a worker that dies between steps leaves a job
 * whose next step anyone may run, and one that dies inside a step leaves a lease that expires
 * after `leaseMs`. Two things drive a job: the process that accepted it (and any process that
 * was asked about it) keeps a timer for its next step (`drive`), and every poll runs the steps
 * that are due before it answers (`advance`). The second is what moves a job in CGI mode, where
 * the process that accepted it exits after answering (close() cancels its timers).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../../common/logger.js';
import type { Job, JobStep } from '../../store/jobs.js';
import type { Store } from '../../store/types.js';

/** What one kind of job does: one step over the job's partial state. */
export interface JobKind {
  /** `pid` is the process running the step, for the job's record of who ran it. */
  step(job: Job, store: Store, pid: number): Promise<Pick<JobStep, 'data' | 'done'> & { readonly result?: string }>;
}

export interface JobRunnerOptions {
  readonly store: Store;
  readonly logger: Logger;
  readonly kinds: Readonly<Record<string, JobKind>>;
  /** The pause between two steps of a job. */
  readonly stepDelayMs: number;
  /** How long a claimed step may run before another process may take the job over. */
  readonly leaseMs: number;
  /** Recorded with each step (the job shows which processes ran it). */
  readonly pid: number;
}

export interface JobRunner {
  /** Runs the job's due steps now, for up to `budgetMs`. */
  advance(id: string, budgetMs: number): Promise<void>;
  /** Keeps a timer for the job's next steps in this process, until it finishes or close(). */
  drive(id: string): void;
  close(): Promise<void>;
}

/** Steps a poll may run inline before it answers. */
export const POLL_BUDGET_MS = 200;

export function createJobRunner(options: JobRunnerOptions): JobRunner {
  const { store, logger } = options;
  // One owner per runner: two processes (or two apps in one test process) never share a lease.
  const owner = `${options.pid}/${randomUUID().slice(0, 8)}`;
  const timers = new Map<string, NodeJS.Timeout>();
  const busy = new Set<Promise<unknown>>();
  let closed = false;

  function track<T>(work: Promise<T>): Promise<T> {
    busy.add(work);
    void work.finally(() => busy.delete(work)).catch(() => undefined);
    return work;
  }

  /** Claims and runs one step; false when no step was due (or another process holds it). */
  async function runStep(id: string): Promise<boolean> {
    const now = Date.now();
    const job = await store.claimJob(id, owner, now, now + options.leaseMs);
    if (job === null) return false;
    // Late steps catch up: the schedule advances from when the step was due, not from now.
    const nextStepAt = job.nextStepAt + options.stepDelayMs;
    const kind = options.kinds[job.kind];
    let step: JobStep;
    try {
      if (kind === undefined) throw new Error(`no job kind "${job.kind}"`);
      const outcome = await kind.step(job, store, options.pid);
      step = outcome.result === undefined
        ? { state: 'running', done: outcome.done, data: outcome.data, result: null, error: null, nextStepAt }
        : { state: 'done', done: outcome.done, data: outcome.data, result: outcome.result, error: null, nextStepAt };
    } catch (error) {
      // The store being down is not the job's fault: the lease expires and the step runs again.
      if ((error as { code?: unknown }).code === 'STORE_UNAVAILABLE') throw error;
      logger.error({ err: error, job: id }, 'job step failed');
      // The job's JSON is answered to whoever polls its URL: the exception's message (a path, a SQL
      // fragment, a stored value) stays in the log, found by the job id (OWASP ASVS V7.4.1).
      step = { state: 'failed', done: job.done, data: job.data, result: null, error: `step ${job.done + 1} of ${job.total} failed; the app log has the cause (job ${id})`, nextStepAt };
    }
    return store.finishJobStep(id, owner, step);
  }

  async function advance(id: string, budgetMs: number): Promise<void> {
    const until = Date.now() + budgetMs;
    while (!closed && Date.now() < until && (await runStep(id)));
  }

  function schedule(id: string, delayMs: number): void {
    if (closed || timers.has(id)) return;
    const timer = setTimeout(() => {
      timers.delete(id);
      void track(tick(id));
    }, Math.max(0, delayMs));
    // A timer alone never keeps a process alive (a CGI run, a test): close() is the orderly end.
    timer.unref();
    timers.set(id, timer);
  }

  async function tick(id: string): Promise<void> {
    let job: Job | null;
    try {
      await advance(id, POLL_BUDGET_MS);
      job = await store.getJob(id);
    } catch (error) {
      logger.warn({ err: error, job: id }, 'job step not run; retrying after the lease time');
      schedule(id, options.leaseMs);
      return;
    }
    if (job === null || job.state === 'done' || job.state === 'failed') return;
    const now = Date.now();
    // Another process holds the step: look again when its lease would have run out.
    const leased = job.leaseUntil !== null && job.leaseUntil >= now;
    schedule(id, leased ? (job.leaseUntil as number) - now + 1 : job.nextStepAt - now);
  }

  return {
    advance: (id, budgetMs) => track(advance(id, budgetMs)),
    drive(id) {
      schedule(id, 0);
    },
    async close() {
      closed = true;
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
      await Promise.allSettled([...busy]);
    },
  };
}
