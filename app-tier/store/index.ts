/**
 * One entry for every backend: the scheme of DATABASE_URL picks the implementation. pg is
 * loaded only for a postgres:// URL, so the single-box placement never imports it.
 */
import type { Logger } from '../../common/logger.js';
import { parseDatabaseUrl } from './database-url.js';
import { openSqliteStore } from './sqlite.js';
import type { OpenPostgresOptions } from './postgres-schema.js';
import type { Store } from './types.js';

export { parseDatabaseUrl, redactDatabaseUrl, DatabaseUrlError, DATABASE_URL_EXPECTED } from './database-url.js';
export { StoreConflictError, StoreUnavailableError } from './types.js';
export type { Store, Article, ArticleInput, ArticlePatch, ArchiveMonth } from './types.js';
export type { Job, JobState, JobStep, NewJob } from './jobs.js';

export interface OpenStoreOptions {
  readonly logger: Logger;
  /** Insert the seed articles on a fresh database (default true). */
  readonly seed?: boolean;
  /** Pool size and start-up retry bounds for a postgres:// URL (defaults: POSTGRES_DEFAULTS). */
  readonly postgres?: Omit<OpenPostgresOptions, 'url' | 'logger' | 'seed'>;
}

/** Opens (creating, migrating and seeding when needed) the database DATABASE_URL names. */
export async function openStore(databaseUrl: string, options: OpenStoreOptions): Promise<Store> {
  const location = parseDatabaseUrl(databaseUrl);
  const logger = options.logger;
  const seed = options.seed ?? true;
  switch (location.kind) {
    case 'sqlite':
      return openSqliteStore({ file: location.file, logger, seed });
    case 'sqlite-memory':
      return openSqliteStore({ file: ':memory:', logger, seed });
    case 'postgres': {
      const { openPostgresStore } = await import('./postgres.js');
      return openPostgresStore({ url: location.url, logger, seed, ...options.postgres });
    }
  }
}
