/**
 * The schema, as an ordered list of steps. Kept as TypeScript (not .sql files) so `tsc`
 * carries them into dist/ with the code that applies them.
 */
import { articles } from './001-articles.js';
import { settings } from './002-settings.js';
import { jobs } from './003-jobs.js';

export interface Migration {
  /** Strictly increasing; recorded in schema_migrations once applied. */
  readonly version: number;
  readonly name: string;
  /** Statements run in order, inside the one start-up transaction. */
  readonly up: readonly string[];
}

export const MIGRATIONS: readonly Migration[] = [articles, settings, jobs];
