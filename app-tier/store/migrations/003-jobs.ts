import type { Migration } from './index.js';

/**
 * Background jobs (POST /api/reports/ → 202): kept in the database, not in a worker's memory, so
 * a job outlives the process that accepted it. Times the runner compares are epoch
 * milliseconds (BIGINT: Postgres INTEGER is 32-bit); the lease says who runs the current step
 * and until when, so a step whose process died is taken over once its lease has expired.
 */
export const jobs: Migration = {
  version: 3,
  name: 'jobs',
  up: [
    `CREATE TABLE jobs (
      id TEXT PRIMARY KEY,
      kind TEXT NOT NULL,
      state TEXT NOT NULL,
      total INTEGER NOT NULL,
      done INTEGER NOT NULL,
      data TEXT NOT NULL,
      result TEXT,
      error TEXT,
      steps INTEGER NOT NULL,
      next_step_at BIGINT NOT NULL,
      lease_owner TEXT,
      lease_until BIGINT,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL,
      finished_at TEXT
    )`,
  ],
};
