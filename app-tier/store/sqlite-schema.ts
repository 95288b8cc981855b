/**
 * Opening a SQLite file the way the app tier needs it: several worker processes (cluster or
 * pm2) share one file, any of them may be the first to start, and a write acknowledged to a
 * client must survive the process being killed.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from '../../common/logger.js';
import { MIGRATIONS } from './migrations/index.js';
import { SEED_ARTICLES } from './seed.js';
import { slugify } from './slug.js';
import type { ArticleInput } from './types.js';

export type SqliteDatabase = Database.Database;

export interface OpenSqliteOptions {
  /** A file path, or ':memory:'. The file's folder is created when missing (./data/ on first start). */
  readonly file: string;
  readonly logger: Logger;
  /** How long a statement waits for another process's write lock before failing with SQLITE_BUSY. */
  readonly busyTimeoutMs?: number;
  /** Insert the seed articles on the very first start (default true). */
  readonly seed?: boolean;
}

export function openSqliteDatabase(options: OpenSqliteOptions): SqliteDatabase {
  const memory = options.file === ':memory:';
  if (!memory) mkdirSync(dirname(resolve(options.file)), { recursive: true });
  // better-sqlite3's `timeout` is SQLite's busy_timeout: with several workers writing to one
  // file, a writer waits for the lock instead of failing at once with SQLITE_BUSY.
  const db = new Database(options.file, { timeout: options.busyTimeoutMs ?? 5_000 });
  try {
    // WAL: readers never block the writer and the writer never blocks readers, which is what
    // many worker processes reading and one at a time writing need (sqlite.org/wal.html).
    if (!memory) db.pragma('journal_mode = WAL');
    // synchronous=FULL fsyncs the WAL on every commit. In WAL mode NORMAL already survives a
    // killed process (the WAL pages sit in the OS cache), but it may lose the last commits on
    // power loss or an OS crash; a 201 promises the row is stored, so the commit must be on
    // disk before the response leaves (sqlite.org/pragma.html#pragma_synchronous).
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    migrate(db, options.logger, options.seed ?? true);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

/**
 * Applies missing migrations (and the seed, once) in one BEGIN IMMEDIATE transaction: the
 * write lock is taken before anything is read, so when several workers start on a fresh file
 * at once, one migrates and the others wait (busy_timeout), then find nothing left to do.
 * DDL is transactional in SQLite, so a failed migration leaves no half-built schema.
 */
function migrate(db: SqliteDatabase, logger: Logger, seed: boolean): void {
  const run = db.transaction(() => {
    db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    const applied = new Set(db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]);
    const now = new Date().toISOString();
    const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    for (const migration of MIGRATIONS) {
      if (applied.has(migration.version)) continue;
      for (const statement of migration.up) db.exec(statement);
      record.run(migration.version, migration.name, now);
      logger.info({ version: migration.version, name: migration.name }, 'store migration applied');
    }
    const seeded = db.prepare("SELECT value FROM settings WHERE name = 'seeded'").pluck().get();
    if (seed && seeded === undefined) {
      for (const article of SEED_ARTICLES) insertSeedArticle(db, article, now);
      db.prepare("INSERT INTO settings (name, value) VALUES ('seeded', ?)").run(now);
      logger.info({ articles: SEED_ARTICLES.length }, 'store seeded');
    }
  });
  run.immediate();
}

function insertSeedArticle(db: SqliteDatabase, input: ArticleInput, now: string): void {
  const published = new Date(input.published ?? now);
  db.prepare(
    'INSERT INTO articles (title, slug, body, published, published_year, published_month, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  ).run(input.title, input.slug ?? slugify(input.title), input.body, published.toISOString(), published.getUTCFullYear(), published.getUTCMonth() + 1, now, now);
}
