/**
 * How long a finished job (done or failed) and its report are kept: Celery's `result_expires`
 * (a day by default) and RQ's `result_ttl`. Past it a job answers 404 whether or not its row is
 * gone yet, so every mode answers alike; the row itself goes in bounded batches, with no process
 * of its own: each POST /api/reports/ deletes up to SWEEP_BATCH expired jobs while it adds one,
 * so expired rows never pile up faster than they are deleted (the only sweep in CGI mode, where a
 * process lives for one request), and a process that lives on (worker, embedded) also sweeps on
 * an unref'd timer, cancelled by close(), so a quiet tier still frees the space.
 */
import type { Logger } from '../../../common/logger.js';
import type { Job } from '../../store/jobs.js';
import type { Store } from '../../store/types.js';

/** APP_JOB_RETENTION_SEC's default: one day, as Celery's result_expires. */
export const DEFAULT_JOB_RETENTION_SEC = 86_400;
/** APP_JOB_MAX_PENDING's default: jobs queued or running at once. */
export const DEFAULT_JOB_MAX_PENDING = 100;
/** Rows one DELETE removes at most: a short write, which under SQLite holds the one write lock. */
export const SWEEP_BATCH = 100;
/** The timer's period at most; a shorter retention sweeps as often as it expires. */
const MAX_SWEEP_INTERVAL_MS = 600_000;

export interface JobRetentionOptions {
  readonly store: Store;
  readonly logger: Logger;
  /** 0 keeps every job forever: nothing expires and nothing is swept. */
  readonly retentionSec: number;
  /** The clock (epoch ms); Date.now by default, a test's own to move time on. */
  readonly now?: (() => number) | undefined;
  /** The timer's period; min(retention, 10 min) by default. 0: no timer (a CGI run answers one request). */
  readonly sweepIntervalMs?: number | undefined;
}

export interface JobRetention {
  /** A finished job last updated more than the retention ago: answered as if it never existed. */
  expired(job: Job): boolean;
  /** Whole seconds until a finished job expires (0 once it has); Infinity when jobs are kept forever. */
  secondsLeft(job: Job): number;
  /** Deletes one batch of expired jobs; how many. Never throws: a failed sweep is logged and tried again later. */
  sweep(): Promise<number>;
  /** Stops the timer; resolves once a sweep under way has ended (the store may then be closed). */
  close(): Promise<void>;
}

export function createJobRetention(options: JobRetentionOptions): JobRetention {
  const { store, logger } = options;
  const retentionMs = options.retentionSec * 1_000;
  const now = options.now ?? Date.now;
  const intervalMs = options.sweepIntervalMs ?? Math.min(retentionMs, MAX_SWEEP_INTERVAL_MS);
  let timer: NodeJS.Timeout | undefined;
  const running = new Set<Promise<number>>();
  let closed = false;

  const cutoff = (): number => now() - retentionMs;

  function sweep(): Promise<number> {
    if (retentionMs === 0 || closed) return Promise.resolve(0);
    const work = deleteBatch();
    running.add(work);
    void work.finally(() => running.delete(work));
    return work;
  }

  async function deleteBatch(): Promise<number> {
    try {
      const deleted = await store.deleteFinishedJobs(new Date(cutoff()).toISOString(), SWEEP_BATCH);
      if (deleted > 0) logger.debug({ deleted }, 'expired report jobs deleted');
      return deleted;
    } catch (error) {
      logger.warn({ err: error }, 'expired report jobs not deleted; the next sweep tries again');
      return 0;
    }
  }

  function schedule(delayMs: number): void {
    if (closed) return;
    timer = setTimeout(() => {
      // A full batch: more may be waiting, go on at once; else the next period.
      void sweep().then((deleted) => schedule(deleted === SWEEP_BATCH ? 0 : intervalMs));
    }, delayMs);
    // A timer alone never keeps a process alive (a CGI run, a test): close() is the orderly end.
    timer.unref();
  }

  if (retentionMs > 0 && intervalMs > 0) schedule(intervalMs);

  return {
    expired: (job) => retentionMs > 0 && (job.state === 'done' || job.state === 'failed') && Date.parse(job.updatedAt) < cutoff(),
    secondsLeft: (job) => (retentionMs === 0 ? Infinity : Math.max(0, Math.floor((Date.parse(job.updatedAt) - cutoff()) / 1_000))),
    sweep,
    async close() {
      closed = true;
      clearTimeout(timer);
      await Promise.all([...running]);
    },
  };
}
