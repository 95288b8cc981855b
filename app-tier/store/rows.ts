/**
 * What both SQL backends share: the articles row as the database returns it, its mapping to
 * the Store's Article, and the input checks that do not depend on the database.
 */
import { slugify, SLUG_MAX_LENGTH } from './slug.js';
import { EXCERPT_CHARACTERS, type Article, type ArticleHead, type ArticleSummary } from './types.js';

export interface ArticleRow {
  id: number;
  title: string;
  slug: string;
  body: string;
  published: string;
  created_at: string;
  updated_at: string;
}

export type HeadRow = Omit<ArticleRow, 'body'>;
export type SummaryRow = HeadRow & { excerpt: string };

export const COLUMNS = 'id, title, slug, body, published, created_at, updated_at';
/** The list queries name their columns without `body`: a list never loads a body into the process. */
export const HEAD_COLUMNS = 'id, title, slug, published, created_at, updated_at';
// substr counts characters (code points) in SQLite and Postgres alike, so an excerpt never
// splits a UTF-8 sequence; the database cuts it, so only the excerpt crosses into the process.
export const SUMMARY_COLUMNS = `${HEAD_COLUMNS}, substr(body, 1, ${EXCERPT_CHARACTERS}) AS excerpt`;
/** Bounds the search for a free derived slug (title-2, title-3, …). */
const MAX_SLUG_SUFFIX = 1_000;

export function toArticle(row: ArticleRow): Article {
  return { id: row.id, title: row.title, slug: row.slug, body: row.body, published: row.published, createdAt: row.created_at, updatedAt: row.updated_at };
}

export function toHead(row: HeadRow): ArticleHead {
  return { id: row.id, title: row.title, slug: row.slug, published: row.published, createdAt: row.created_at, updatedAt: row.updated_at };
}

export function toSummary(row: SummaryRow): ArticleSummary {
  return { id: row.id, title: row.title, slug: row.slug, excerpt: row.excerpt, published: row.published, createdAt: row.created_at, updatedAt: row.updated_at };
}

export function toPublished(value: string | undefined): Date {
  const date = value === undefined ? new Date() : new Date(value);
  if (Number.isNaN(date.getTime())) throw new RangeError(`published is not a valid date: ${JSON.stringify(value)}`);
  return date;
}

/**
 * Candidate slugs derived from a title, in order: `hello`, `hello-2`, … `hello-1000`, each cut
 * to SLUG_MAX_LENGTH. Each backend takes the first one not taken in the month.
 */
export function* derivedSlugs(title: string): Generator<string> {
  const base = slugify(title);
  for (let n = 1; n <= MAX_SLUG_SUFFIX; n += 1) {
    const suffix = n === 1 ? '' : `-${n}`;
    yield `${base.slice(0, SLUG_MAX_LENGTH - suffix.length)}${suffix}`;
  }
}
