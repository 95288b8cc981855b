/**
 * Background jobs as the Store keeps them (migration 003). The store only records; the runner
 * (app-tier/app/jobs/runner.ts) decides what a step does. Both SQL backends share the row
 * mapping here.
 */

export type JobState = 'queued' | 'running' | 'done' | 'failed';

export interface Job {
  /** A random UUID (the route's `uuid` converter). */
  readonly id: string;
  readonly kind: string;
  readonly state: JobState;
  /** Units of work in all (articles, for a word count) and how many are done. */
  readonly total: number;
  readonly done: number;
  /** The kind's partial state, JSON text. */
  readonly data: string;
  /** The result, JSON text, once `done`. */
  readonly result: string | null;
  readonly error: string | null;
  readonly steps: number;
  /** Epoch ms: the next step may run from then on. */
  readonly nextStepAt: number;
  /** Who runs the current step, until when (epoch ms); null between steps. */
  readonly leaseOwner: string | null;
  readonly leaseUntil: number | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly finishedAt: string | null;
}

export interface NewJob {
  readonly id: string;
  readonly kind: string;
  readonly total: number;
  readonly data: string;
  readonly nextStepAt: number;
}

/** What a finished step writes; the lease is released with it. */
export interface JobStep {
  readonly state: JobState;
  readonly done: number;
  readonly data: string;
  readonly result: string | null;
  readonly error: string | null;
  readonly nextStepAt: number;
}

export interface JobRow {
  id: string;
  kind: string;
  state: string;
  total: number;
  done: number;
  data: string;
  result: string | null;
  error: string | null;
  steps: number;
  // pg returns BIGINT as a string (it may exceed 2^53); epoch milliseconds never do.
  next_step_at: number | string;
  lease_owner: string | null;
  lease_until: number | string | null;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
}

export const JOB_COLUMNS = 'id, kind, state, total, done, data, result, error, steps, next_step_at, lease_owner, lease_until, created_at, updated_at, finished_at';

export function toJob(row: JobRow): Job {
  return {
    id: row.id,
    kind: row.kind,
    state: row.state as JobState,
    total: Number(row.total),
    done: Number(row.done),
    data: row.data,
    result: row.result,
    error: row.error,
    steps: Number(row.steps),
    nextStepAt: Number(row.next_step_at),
    leaseOwner: row.lease_owner,
    leaseUntil: row.lease_until === null ? null : Number(row.lease_until),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
  };
}
