/**
 * The Store on Postgres (`pg`), for the multi-box placement: several app boxes share one
 * database server. Same SQL shape as sqlite.ts (ISO text dates plus integer year/month), same
 * slug rules, same errors: a unique-slug violation → StoreConflictError, an unreachable or
 * restarting server → StoreUnavailableError (503), never a crash.
 */
import type pg from 'pg';
import { JOB_COLUMNS, toJob, type Job, type JobRow, type JobStep, type NewJob } from './jobs.js';
import { openPostgresDatabase, isUnavailable, ARTICLE_WRITE_LOCK_KEY, type OpenPostgresOptions } from './postgres-schema.js';
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

/** The part of pg.Pool and pg.PoolClient used here: both run a query. */
type Queryable = Pick<pg.PoolClient, 'query'>;

function translate(error: unknown, closed: boolean): unknown {
  const code = (error as { code?: unknown }).code;
  // 23505 unique_violation: the (year, month, slug) constraint.
  if (code === '23505') return new StoreConflictError('slug', 'an article with this slug is already published in that month');
  if (closed) return new StoreUnavailableError('the store is closed', { cause: error });
  if (isUnavailable(error)) return new StoreUnavailableError(`the database is unavailable (${typeof code === 'string' ? code : (error as Error).message})`, { cause: error });
  return error;
}

export class PostgresStore implements Store {
  readonly #pool: pg.Pool;
  #closed = false;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async #call<T>(work: (db: Queryable) => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreUnavailableError('the store is closed');
    try {
      return await work(this.#pool);
    } catch (error) {
      throw translate(error, this.#closed);
    }
  }

  /**
   * Article writes run one at a time (a transaction-level advisory lock), as SQLite's BEGIN
   * IMMEDIATE makes them: the slug checks read before writing, and two boxes deriving "hello"
   * at once must end with "hello" and "hello-2", not a conflict for one of them.
   */
  async #write<T>(work: (db: Queryable) => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreUnavailableError('the store is closed');
    let client: pg.PoolClient | undefined;
    try {
      client = await this.#pool.connect();
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [ARTICLE_WRITE_LOCK_KEY]);
      const result = await work(client);
      await client.query('COMMIT');
      client.release();
      return result;
    } catch (error) {
      if (client !== undefined) {
        const rolledBack = await client.query('ROLLBACK').then(() => true, () => false);
        // A connection that could not even roll back is broken: destroy it, do not pool it.
        client.release(rolledBack ? undefined : (error as Error));
      }
      throw translate(error, this.#closed);
    }
  }

  async #row(db: Queryable, id: number): Promise<ArticleRow | undefined> {
    return (await db.query<ArticleRow>(`SELECT ${COLUMNS} FROM articles WHERE id = $1`, [id])).rows[0];
  }

  async #slugTaken(db: Queryable, year: number, month: number, slug: string, exceptId: number): Promise<boolean> {
    const found = await db.query('SELECT id FROM articles WHERE published_year = $1 AND published_month = $2 AND slug = $3 AND id <> $4', [year, month, slug, exceptId]);
    return (found.rowCount ?? 0) > 0;
  }

  /** An explicit slug is the client's choice; a derived one takes the first free suffix (sqlite.ts does the same). */
  async #chooseSlug(db: Queryable, input: { title: string; slug?: string | undefined }, published: Date, exceptId: number): Promise<string> {
    if (input.slug !== undefined) return input.slug;
    const year = published.getUTCFullYear();
    const month = published.getUTCMonth() + 1;
    for (const candidate of derivedSlugs(input.title)) {
      if (!(await this.#slugTaken(db, year, month, candidate, exceptId))) return candidate;
    }
    throw new StoreConflictError('slug', 'no free slug derived from this title in that month; give one');
  }

  listArticles(options: { limit: number; offset: number }): Promise<ArticleSummary[]> {
    return this.#call(async (db) =>
      (await db.query<SummaryRow>(`SELECT ${SUMMARY_COLUMNS} FROM articles ORDER BY published DESC, id DESC LIMIT $1 OFFSET $2`, [options.limit, options.offset])).rows.map(toSummary),
    );
  }

  countArticles(): Promise<number> {
    // COUNT(*) is bigint, which pg returns as a string; ::int fits any article count here.
    return this.#call(async (db) => (await db.query<{ count: number }>('SELECT COUNT(*)::int AS count FROM articles')).rows[0]?.count ?? 0);
  }

  getArticle(id: number): Promise<Article | null> {
    return this.#call(async (db) => {
      const row = await this.#row(db, id);
      return row === undefined ? null : toArticle(row);
    });
  }

  listArticlesByDate(year: number, month?: number): Promise<ArticleHead[]> {
    return this.#call(async (db) => {
      const result = month === undefined
        ? await db.query<HeadRow>(`SELECT ${HEAD_COLUMNS} FROM articles WHERE published_year = $1 ORDER BY published DESC, id DESC`, [year])
        : await db.query<HeadRow>(`SELECT ${HEAD_COLUMNS} FROM articles WHERE published_year = $1 AND published_month = $2 ORDER BY published DESC, id DESC`, [year, month]);
      return result.rows.map(toHead);
    });
  }

  getArticleBySlug(year: number, month: number, slug: string): Promise<Article | null> {
    return this.#call(async (db) => {
      const row = (await db.query<ArticleRow>(`SELECT ${COLUMNS} FROM articles WHERE published_year = $1 AND published_month = $2 AND slug = $3`, [year, month, slug])).rows[0];
      return row === undefined ? null : toArticle(row);
    });
  }

  archive(): Promise<ArchiveMonth[]> {
    return this.#call(async (db) => {
      const result = await db.query<ArchiveMonth>(
        'SELECT published_year AS year, published_month AS month, COUNT(*)::int AS count FROM articles GROUP BY published_year, published_month ORDER BY published_year DESC, published_month DESC',
      );
      return result.rows.map((row) => ({ year: row.year, month: row.month, count: row.count }));
    });
  }

  async createArticle(input: ArticleInput): Promise<Article> {
    const published = toPublished(input.published);
    return this.#write(async (db) => {
      const slug = await this.#chooseSlug(db, input, published, -1);
      const now = new Date().toISOString();
      const result = await db.query<ArticleRow>(
        `INSERT INTO articles (title, slug, body, published, published_year, published_month, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${COLUMNS}`,
        [input.title, slug, input.body, published.toISOString(), published.getUTCFullYear(), published.getUTCMonth() + 1, now, now],
      );
      return toArticle(result.rows[0] as ArticleRow);
    });
  }

  async replaceArticle(id: number, input: ArticleInput): Promise<Article | null> {
    const published = toPublished(input.published);
    return this.#write(async (db) => {
      if ((await this.#row(db, id)) === undefined) return null;
      return this.#update(db, id, input.title, await this.#chooseSlug(db, input, published, id), input.body, published);
    });
  }

  patchArticle(id: number, patch: ArticlePatch): Promise<Article | null> {
    return this.#write(async (db) => {
      const existing = await this.#row(db, id);
      if (existing === undefined) return null;
      // A title change keeps the slug: published URLs stay valid unless a slug is given.
      const published = toPublished(patch.published ?? existing.published);
      return this.#update(db, id, patch.title ?? existing.title, patch.slug ?? existing.slug, patch.body ?? existing.body, published);
    });
  }

  async #update(db: Queryable, id: number, title: string, slug: string, body: string, published: Date): Promise<Article> {
    const result = await db.query<ArticleRow>(
      `UPDATE articles SET title = $1, slug = $2, body = $3, published = $4, published_year = $5, published_month = $6, updated_at = $7 WHERE id = $8 RETURNING ${COLUMNS}`,
      [title, slug, body, published.toISOString(), published.getUTCFullYear(), published.getUTCMonth() + 1, new Date().toISOString(), id],
    );
    return toArticle(result.rows[0] as ArticleRow);
  }

  deleteArticle(id: number): Promise<boolean> {
    return this.#call(async (db) => ((await db.query('DELETE FROM articles WHERE id = $1', [id])).rowCount ?? 0) > 0);
  }

  articlesAfter(afterId: number, limit: number): Promise<Article[]> {
    return this.#call(async (db) => (await db.query<ArticleRow>(`SELECT ${COLUMNS} FROM articles WHERE id > $1 ORDER BY id LIMIT $2`, [afterId, limit])).rows.map(toArticle));
  }

  maxArticleId(): Promise<number> {
    return this.#call(async (db) => (await db.query<{ max: number | null }>('SELECT MAX(id) AS max FROM articles')).rows[0]?.max ?? 0);
  }

  createJob(job: NewJob): Promise<Job> {
    return this.#call(async (db) => {
      const now = new Date().toISOString();
      const result = await db.query<JobRow>(
        `INSERT INTO jobs (id, kind, state, total, done, data, steps, next_step_at, created_at, updated_at) VALUES ($1, $2, 'queued', $3, 0, $4, 0, $5, $6, $7) RETURNING ${JOB_COLUMNS}`,
        [job.id, job.kind, job.total, job.data, job.nextStepAt, now, now],
      );
      return toJob(result.rows[0] as JobRow);
    });
  }

  getJob(id: string): Promise<Job | null> {
    return this.#call(async (db) => {
      const row = (await db.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1`, [id])).rows[0];
      return row === undefined ? null : toJob(row);
    });
  }

  claimJob(id: string, owner: string, nowMs: number, leaseUntilMs: number): Promise<Job | null> {
    return this.#call(async (db) => {
      // One statement: Postgres re-checks the WHERE on the latest row version under the row lock
      // (READ COMMITTED), so of two boxes claiming at once only one updates the row.
      const result = await db.query<JobRow>(
        `UPDATE jobs SET lease_owner = $1, lease_until = $2 WHERE id = $3 AND state IN ('queued', 'running') AND next_step_at <= $4
          AND (lease_until IS NULL OR lease_until < $4) RETURNING ${JOB_COLUMNS}`,
        [owner, leaseUntilMs, id, nowMs],
      );
      const row = result.rows[0];
      return row === undefined ? null : toJob(row);
    });
  }

  finishJobStep(id: string, owner: string, step: JobStep): Promise<boolean> {
    return this.#call(async (db) => {
      const now = new Date().toISOString();
      const finished = step.state === 'done' || step.state === 'failed' ? now : null;
      const result = await db.query(
        `UPDATE jobs SET state = $1, done = $2, data = $3, result = $4, error = $5, next_step_at = $6, steps = steps + 1,
          lease_owner = NULL, lease_until = NULL, updated_at = $7, finished_at = $8 WHERE id = $9 AND lease_owner = $10`,
        [step.state, step.done, step.data, step.result, step.error, step.nextStepAt, now, finished, id, owner],
      );
      return (result.rowCount ?? 0) === 1;
    });
  }

  getOrCreateSetting(name: string, create: () => string): Promise<string> {
    return this.#call(async (db) => {
      const read = async (): Promise<string | undefined> => (await db.query<{ value: string }>('SELECT value FROM settings WHERE name = $1', [name])).rows[0]?.value;
      const existing = await read();
      if (existing !== undefined) return existing;
      // Two boxes may get here at once: the first insert wins, both then read its value.
      await db.query('INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [name, create()]);
      return (await read()) as string;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}

export async function openPostgresStore(options: OpenPostgresOptions): Promise<PostgresStore> {
  return new PostgresStore(await openPostgresDatabase(options));
}
