import type { Migration } from './index.js';

/**
 * Dates are kept as ISO 8601 text plus the UTC year and month as integers: the archive pages
 * group by month and the slug is unique per month, and plain integer columns keep that SQL
 * the same on SQLite and Postgres (no strftime / date_trunc).
 */
export const articles: Migration = {
  version: 1,
  name: 'articles',
  up: [
    `CREATE TABLE articles (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      title TEXT NOT NULL,
      slug TEXT NOT NULL,
      body TEXT NOT NULL,
      published TEXT NOT NULL,
      published_year INTEGER NOT NULL,
      published_month INTEGER NOT NULL,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL,
      CONSTRAINT articles_slug_per_month UNIQUE (published_year, published_month, slug)
    )`,
    'CREATE INDEX articles_published ON articles (published DESC, id DESC)',
  ],
};
