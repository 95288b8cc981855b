/**
 * The Store on SQLite (better-sqlite3). better-sqlite3 is synchronous; each call is short
 * (indexed lookups on a local file), and the methods are async so the same interface fits a
 * networked backend (Postgres) later. SQL here stays portable: no strftime, no RETURNING,
 * `ON CONFLICT … DO NOTHING` (SQLite ≥ 3.24 and Postgres both read it).
 */
import type { Logger } from '../../common/logger.js';
import { JOB_COLUMNS, toJob, type Job, type JobRow, type JobStep, type NewJob } from './jobs.js';
import { openSqliteDatabase, type SqliteDatabase } from './sqlite-schema.js';
import { COLUMNS, HEAD_COLUMNS, SUMMARY_COLUMNS, derivedSlugs, toArticle, toHead, toPublished, toSummary, type ArticleRow, type HeadRow, type SummaryRow } from './rows.js';
import {
  StoreConflictError,
  StoreUnavailableError,
  type ArchiveMonth,
  type Article,
  type ArticleHead,
  type ArticleInput,
  type ArticlePatch,
  type ArticleSummary,
  type Store,
} from './types.js';

/** Errors of the database itself (locked, disk, closed) become StoreUnavailableError → 503. */
function translate(error: unknown): unknown {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT_UNIQUE')) {
    return new StoreConflictError('slug', 'an article with this slug is already published in that month');
  }
  if (typeof code === 'string' && /^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN|READONLY|FULL|CORRUPT|NOTADB)/.test(code)) {
    return new StoreUnavailableError(`the database is unavailable (${code})`, { cause: error });
  }
  if (error instanceof TypeError && /database connection is not open/.test(error.message)) {
    return new StoreUnavailableError('the store is closed', { cause: error });
  }
  return error;
}

export class SqliteStore implements Store {
  readonly #db: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  #call<T>(work: () => T): Promise<T> {
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(translate(error));
    }
  }

  #row(id: number): ArticleRow | undefined {
    return this.#db.prepare(`SELECT ${COLUMNS} FROM articles WHERE id = ?`).get(id) as ArticleRow | undefined;
  }

  #slugTaken(year: number, month: number, slug: string, exceptId: number): boolean {
    const found = this.#db.prepare('SELECT id FROM articles WHERE published_year = ? AND published_month = ? AND slug = ? AND id <> ?').get(year, month, slug, exceptId);
    return found !== undefined;
  }

  /**
   * An explicit slug is the client's choice: taken → conflict. A slug derived from the title
   * gets the first free suffix instead, so two posts titled "Hello" in one month both work.
   */
  #chooseSlug(input: { title: string; slug?: string | undefined }, published: Date, exceptId: number): string {
    if (input.slug !== undefined) return input.slug;
    const year = published.getUTCFullYear();
    const month = published.getUTCMonth() + 1;
    for (const candidate of derivedSlugs(input.title)) {
      if (!this.#slugTaken(year, month, candidate, exceptId)) return candidate;
    }
    throw new StoreConflictError('slug', 'no free slug derived from this title in that month; give one');
  }

  listArticles(options: { limit: number; offset: number }): Promise<ArticleSummary[]> {
    return this.#call(() =>
      (this.#db.prepare(`SELECT ${SUMMARY_COLUMNS} FROM articles ORDER BY published DESC, id DESC LIMIT ? OFFSET ?`).all(options.limit, options.offset) as SummaryRow[]).map(toSummary),
    );
  }

  countArticles(): Promise<number> {
    return this.#call(() => this.#db.prepare('SELECT COUNT(*) FROM articles').pluck().get() as number);
  }

  getArticle(id: number): Promise<Article | null> {
    return this.#call(() => {
      const row = this.#row(id);
      return row === undefined ? null : toArticle(row);
    });
  }

  listArticlesByDate(year: number, month?: number): Promise<ArticleHead[]> {
    return this.#call(() => {
      const rows = month === undefined
        ? this.#db.prepare(`SELECT ${HEAD_COLUMNS} FROM articles WHERE published_year = ? ORDER BY published DESC, id DESC`).all(year)
        : this.#db.prepare(`SELECT ${HEAD_COLUMNS} FROM articles WHERE published_year = ? AND published_month = ? ORDER BY published DESC, id DESC`).all(year, month);
      return (rows as HeadRow[]).map(toHead);
    });
  }

  getArticleBySlug(year: number, month: number, slug: string): Promise<Article | null> {
    return this.#call(() => {
      const row = this.#db.prepare(`SELECT ${COLUMNS} FROM articles WHERE published_year = ? AND published_month = ? AND slug = ?`).get(year, month, slug) as ArticleRow | undefined;
      return row === undefined ? null : toArticle(row);
    });
  }

  archive(): Promise<ArchiveMonth[]> {
    return this.#call(() => {
      const rows = this.#db.prepare(
        'SELECT published_year AS year, published_month AS month, COUNT(*) AS count FROM articles GROUP BY published_year, published_month ORDER BY published_year DESC, published_month DESC',
      ).all() as ArchiveMonth[];
      return rows.map((row) => ({ year: row.year, month: row.month, count: row.count }));
    });
  }

  // Writes run as BEGIN IMMEDIATE: they read (slug checks) before writing, and a deferred
  // transaction that upgrades from read to write can fail with SQLITE_BUSY_SNAPSHOT in WAL
  // mode without waiting; IMMEDIATE takes the write lock first, honouring busy_timeout.
  createArticle(input: ArticleInput): Promise<Article> {
    return this.#call(() => this.#db.transaction(() => {
      const published = toPublished(input.published);
      const slug = this.#chooseSlug(input, published, -1);
      const now = new Date().toISOString();
      const result = this.#db.prepare(
        'INSERT INTO articles (title, slug, body, published, published_year, published_month, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ).run(input.title, slug, input.body, published.toISOString(), published.getUTCFullYear(), published.getUTCMonth() + 1, now, now);
      return toArticle(this.#row(Number(result.lastInsertRowid)) as ArticleRow);
    }).immediate());
  }

  replaceArticle(id: number, input: ArticleInput): Promise<Article | null> {
    return this.#call(() => this.#db.transaction(() => {
      if (this.#row(id) === undefined) return null;
      const published = toPublished(input.published);
      return this.#update(id, input.title, this.#chooseSlug(input, published, id), input.body, published);
    }).immediate());
  }

  patchArticle(id: number, patch: ArticlePatch): Promise<Article | null> {
    return this.#call(() => this.#db.transaction(() => {
      const existing = this.#row(id);
      if (existing === undefined) return null;
      // A title change keeps the slug: published URLs stay valid unless a slug is given.
      const published = toPublished(patch.published ?? existing.published);
      return this.#update(id, patch.title ?? existing.title, patch.slug ?? existing.slug, patch.body ?? existing.body, published);
    }).immediate());
  }

  #update(id: number, title: string, slug: string, body: string, published: Date): Article {
    this.#db.prepare(
      'UPDATE articles SET title = ?, slug = ?, body = ?, published = ?, published_year = ?, published_month = ?, updated_at = ? WHERE id = ?',
    ).run(title, slug, body, published.toISOString(), published.getUTCFullYear(), published.getUTCMonth() + 1, new Date().toISOString(), id);
    return toArticle(this.#row(id) as ArticleRow);
  }

  deleteArticle(id: number): Promise<boolean> {
    return this.#call(() => this.#db.prepare('DELETE FROM articles WHERE id = ?').run(id).changes > 0);
  }

  articlesAfter(afterId: number, limit: number): Promise<Article[]> {
    return this.#call(() => (this.#db.prepare(`SELECT ${COLUMNS} FROM articles WHERE id > ? ORDER BY id LIMIT ?`).all(afterId, limit) as ArticleRow[]).map(toArticle));
  }

  maxArticleId(): Promise<number> {
    return this.#call(() => (this.#db.prepare('SELECT MAX(id) FROM articles').pluck().get() as number | null) ?? 0);
  }

  #job(id: string): Job | null {
    const row = this.#db.prepare(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ?`).get(id) as JobRow | undefined;
    return row === undefined ? null : toJob(row);
  }

  createJob(job: NewJob): Promise<Job> {
    return this.#call(() => {
      const now = new Date().toISOString();
      this.#db.prepare(
        "INSERT INTO jobs (id, kind, state, total, done, data, steps, next_step_at, created_at, updated_at) VALUES (?, ?, 'queued', ?, 0, ?, 0, ?, ?, ?)",
      ).run(job.id, job.kind, job.total, job.data, job.nextStepAt, now, now);
      return this.#job(job.id) as Job;
    });
  }

  getJob(id: string): Promise<Job | null> {
    return this.#call(() => this.#job(id));
  }

  claimJob(id: string, owner: string, nowMs: number, leaseUntilMs: number): Promise<Job | null> {
    return this.#call(() => {
      const claimed = this.#db.prepare(
        "UPDATE jobs SET lease_owner = ?, lease_until = ? WHERE id = ? AND state IN ('queued', 'running') AND next_step_at <= ? AND (lease_until IS NULL OR lease_until < ?)",
      ).run(owner, leaseUntilMs, id, nowMs, nowMs);
      return claimed.changes === 1 ? this.#job(id) : null;
    });
  }

  finishJobStep(id: string, owner: string, step: JobStep): Promise<boolean> {
    return this.#call(() => {
      const now = new Date().toISOString();
      const finished = step.state === 'done' || step.state === 'failed' ? now : null;
      return this.#db.prepare(
        `UPDATE jobs SET state = ?, done = ?, data = ?, result = ?, error = ?, next_step_at = ?, steps = steps + 1,
          lease_owner = NULL, lease_until = NULL, updated_at = ?, finished_at = ? WHERE id = ? AND lease_owner = ?`,
      ).run(step.state, step.done, step.data, step.result, step.error, step.nextStepAt, now, finished, id, owner).changes === 1;
    });
  }

  getOrCreateSetting(name: string, create: () => string): Promise<string> {
    return this.#call(() => {
      const read = this.#db.prepare('SELECT value FROM settings WHERE name = ?').pluck();
      const existing = read.get(name) as string | undefined;
      if (existing !== undefined) return existing;
      // Two processes may get here at once: the first insert wins, both then read its value.
      this.#db.prepare('INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING').run(name, create());
      return read.get(name) as string;
    });
  }

  close(): Promise<void> {
    if (this.#db.open) this.#db.close();
    return Promise.resolve();
  }
}

export function openSqliteStore(options: { file: string; logger: Logger; busyTimeoutMs?: number; seed?: boolean }): SqliteStore {
  return new SqliteStore(openSqliteDatabase(options));
}
