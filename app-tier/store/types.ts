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
  /** Newest first (published desc, id desc). */
  listArticles(options: { limit: number; offset: number }): Promise<Article[]>;
  countArticles(): Promise<number>;
  getArticle(id: number): Promise<Article | null>;
  /** Articles published in a year (and month, when given), newest first. */
  listArticlesByDate(year: number, month?: number): Promise<Article[]>;
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
