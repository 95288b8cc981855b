import type { Migration } from './index.js';

/**
 * Two questions a POST /api/reports/ asks (app/jobs/retention.ts): which finished jobs were last
 * updated before the retention cutoff (the bounded DELETE), and which jobs are not finished yet
 * (APP_JOB_MAX_PENDING). Both filter on state, the first by updated_at too: without the index
 * each would read the whole table, which is what grows.
 */
export const jobsStateIndex: Migration = {
  version: 4,
  name: 'jobs-state-index',
  up: ['CREATE INDEX jobs_state_updated_at ON jobs (state, updated_at)'],
};
