/**
 * One entry for every backend: the scheme of DATABASE_URL picks the implementation. A
 * postgres.ts (multi-box placement) slots in as one more case here.
 */
import type { Logger } from '../../common/logger.js';
import { parseDatabaseUrl } from './database-url.js';
import { openSqliteStore } from './sqlite.js';
import type { Store } from './types.js';

export { parseDatabaseUrl, DatabaseUrlError, DATABASE_URL_EXPECTED } from './database-url.js';
export { StoreConflictError, StoreUnavailableError } from './types.js';
export type { Store, Article, ArticleInput, ArticlePatch, ArchiveMonth } from './types.js';

export interface OpenStoreOptions {
  readonly logger: Logger;
  /** Insert the seed articles on a fresh database (default true). */
  readonly seed?: boolean;
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
  }
}
