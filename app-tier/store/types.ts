import type { Job, JobStep, NewJob } from './jobs.js';

/**
 * The store interface. SQLite implements it now; Postgres (multi-box placement) later. Async
 * throughout so both backends fit, and SQL kept portable.
 */

export interface Article {
  readonly id: number;
  readonly title: string;
  /** Unique within the article's publication month. */
  readonly slug: string;
  readonly body: string;
  /** ISO 8601 timestamp, e.g. "2003-05-17T10:00:00.000Z". */
  readonly published: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/**
 * An article without its body: what the archive pages show (title, link, date). Lists load
 * this, never the body, so a list's size grows with its length and not with its bodies
 * (issue 12.6: 100 articles of ~1 MB made one list answer 102 MB and a worker 1.6 GB).
 */
export type ArticleHead = Omit<Article, 'body'>;

/** The body's first characters that a list item carries instead of the body. */
export const EXCERPT_CHARACTERS = 200;

/** A list item: the head and a bounded excerpt (the first EXCERPT_CHARACTERS code points of the body). */
export interface ArticleSummary extends ArticleHead {
  readonly excerpt: string;
}

/** What a create or full replace supplies. The slug is derived from the title when absent. */
export interface ArticleInput {
  readonly title: string;
  readonly slug?: string | undefined;
  readonly body: string;
  /** ISO 8601; now when absent. */
  readonly published?: string | undefined;
}

export type ArticlePatch = Partial<ArticleInput>;

export interface ArchiveMonth {
  readonly year: number;
  readonly month: number;
  readonly count: number;
}

export interface Store {
  /** Newest first (published desc, id desc); summaries, never bodies (getArticle reads one whole). */
  listArticles(options: { limit: number; offset: number }): Promise<ArticleSummary[]>;
  countArticles(): Promise<number>;
  getArticle(id: number): Promise<Article | null>;
  /** Articles published in a year (and month, when given), newest first; heads only, never bodies. */
  listArticlesByDate(year: number, month?: number): Promise<ArticleHead[]>;
  getArticleBySlug(year: number, month: number, slug: string): Promise<Article | null>;
  /** Months that have articles, newest first, with counts. */
  archive(): Promise<ArchiveMonth[]>;
  /** Throws StoreConflictError (code 'STORE_CONFLICT') when the slug is taken in that month. */
  createArticle(input: ArticleInput): Promise<Article>;
  /** null when there is no such article. */
  replaceArticle(id: number, input: ArticleInput): Promise<Article | null>;
  patchArticle(id: number, patch: ArticlePatch): Promise<Article | null>;
  /** false when there was no such article. */
  deleteArticle(id: number): Promise<boolean>;
  /** Whole articles with id > afterId, lowest id first (a report job reads them in batches). */
  articlesAfter(afterId: number, limit: number): Promise<Article[]>;
  /** The highest article id; 0 when there is none. */
  maxArticleId(): Promise<number>;
  createJob(job: NewJob): Promise<Job>;
  getJob(id: string): Promise<Job | null>;
  /**
   * Takes the lease of a job that is not finished, whose next step is due (nextStepAt ≤ nowMs)
   * and whose lease is free or expired (leaseUntil < nowMs): one UPDATE, so of several
   * processes asking at once exactly one gets the job; the others get null.
   */
  claimJob(id: string, owner: string, nowMs: number, leaseUntilMs: number): Promise<Job | null>;
  /** Writes a step's outcome and frees the lease; false (nothing written) when `owner` no longer holds it. */
  finishJobStep(id: string, owner: string, step: JobStep): Promise<boolean>;
  /** A value kept across processes and restarts (e.g. the CSRF signing secret); created with `create()` once. */
  getOrCreateSetting(name: string, create: () => string): Promise<string>;
  close(): Promise<void>;
}

export class StoreConflictError extends Error {
  readonly code = 'STORE_CONFLICT';
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.name = 'StoreConflictError';
    this.field = field;
  }
}

export class StoreUnavailableError extends Error {
  readonly code = 'STORE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}
