/**
 * Article input validation, shared by the JSON API and the HTML form. It collects every field
 * error (the form shows them all; the API reports the first).
 */
import type { ArticleInput, ArticlePatch } from '../store/types.js';
import { SLUG_MAX_LENGTH } from '../store/slug.js';

export const TITLE_MAX_LENGTH = 200;
/**
 * The default largest article body, in bytes of UTF-8 (APP_MAX_ARTICLE_BODY_BYTES). A body is
 * read whole by its detail page and API URL only, so this bounds what one request loads.
 */
export const DEFAULT_MAX_ARTICLE_BODY_BYTES = 64 * 1024;

export interface ValidationLimits {
  /** The largest body, in bytes of UTF-8; more is a validation error on `body` (400). */
  readonly maxBodyBytes: number;
}

const DEFAULT_LIMITS: ValidationLimits = { maxBodyBytes: DEFAULT_MAX_ARTICLE_BODY_BYTES };
/** The router's `slug` converter alphabet, so every slug can appear in a detail URL. */
export const SLUG_PATTERN = /^[-a-zA-Z0-9_]+$/;

export interface FieldError {
  /** The offending field, or "" for the whole body. */
  readonly field: string;
  readonly message: string;
}

export type Validated<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly errors: readonly FieldError[] };

const FIELDS = ['title', 'slug', 'body', 'published'] as const;
/** Read-only fields a client may echo back in a PUT (GET → edit → PUT); ignored, not refused. */
const READ_ONLY = new Set(['id', 'createdAt', 'updatedAt']);

/** ISO 8601 date or date-time with an explicit offset (RFC 3339 §5.6, plus a bare date). */
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

/** A normalised ISO timestamp (UTC, milliseconds), or null when the text is not a real date. */
export function parsePublished(text: string): string | null {
  const parts = ISO_DATE.exec(text);
  if (parts === null) return null;
  const [year, month, day, hour, minute, second] = parts.slice(1, 7).map((part) => (part === undefined ? 0 : Number(part)));
  // Date.parse rolls 2003-02-30 over to March 2: a day past the month's end shows as a changed month.
  const calendar = new Date(Date.UTC(year ?? 0, (month ?? 1) - 1, day ?? 1));
  if (calendar.getUTCMonth() !== (month ?? 1) - 1 || (year ?? 0) < 1) return null;
  if ((hour ?? 0) > 23 || (minute ?? 0) > 59 || (second ?? 0) > 59) return null;
  const time = Date.parse(parts[4] === undefined ? `${text}T00:00:00Z` : text);
  if (Number.isNaN(time)) return null;
  const normalised = new Date(time);
  const normalisedYear = normalised.getUTCFullYear();
  // The archive URLs carry a four-digit year.
  return normalisedYear >= 1 && normalisedYear <= 9999 ? normalised.toISOString() : null;
}

function characters(text: string): number {
  return [...text].length;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Validates a create/replace (`full`: title and body required) or a patch (every field optional).
 */
export function validateArticle(raw: unknown, mode: 'full', limits?: ValidationLimits): Validated<ArticleInput>;
export function validateArticle(raw: unknown, mode: 'partial', limits?: ValidationLimits): Validated<ArticlePatch>;
export function validateArticle(raw: unknown, mode: 'full' | 'partial', limits: ValidationLimits = DEFAULT_LIMITS): Validated<ArticleInput | ArticlePatch> {
  if (!isPlainObject(raw)) return { ok: false, errors: [{ field: '', message: 'the body must be a JSON object' }] };
  const errors: FieldError[] = [];
  const known: readonly string[] = FIELDS;
  for (const key of Object.keys(raw)) {
    if (!known.includes(key) && !READ_ONLY.has(key)) errors.push({ field: key, message: `unknown field "${key}" (fields: ${FIELDS.join(', ')})` });
  }

  const out: { title?: string; slug?: string; body?: string; published?: string } = {};

  const title = raw['title'];
  if (title === undefined) {
    if (mode === 'full') errors.push({ field: 'title', message: 'title is required' });
  } else if (typeof title !== 'string') {
    errors.push({ field: 'title', message: 'title must be a string' });
  } else {
    const trimmed = title.trim();
    const length = characters(trimmed);
    if (length < 1 || length > TITLE_MAX_LENGTH) errors.push({ field: 'title', message: `title must be 1 to ${TITLE_MAX_LENGTH} characters` });
    else out.title = trimmed;
  }

  const slug = raw['slug'];
  if (slug !== undefined && slug !== null && slug !== '') {
    if (typeof slug !== 'string' || !SLUG_PATTERN.test(slug) || slug.length > SLUG_MAX_LENGTH) {
      errors.push({ field: 'slug', message: `slug must be 1 to ${SLUG_MAX_LENGTH} letters, digits, hyphens or underscores` });
    } else {
      out.slug = slug;
    }
  } else if (mode === 'partial' && slug !== undefined) {
    errors.push({ field: 'slug', message: 'slug cannot be emptied' });
  }

  const body = raw['body'];
  if (body === undefined) {
    if (mode === 'full') errors.push({ field: 'body', message: 'body is required (it may be an empty string)' });
  } else if (typeof body !== 'string') {
    errors.push({ field: 'body', message: 'body must be a string' });
  } else {
    const bytes = Buffer.byteLength(body, 'utf8');
    // 400 like every other field rule (the title's 200 characters), not 413: the request as a
    // whole is within what the app reads (maxRequestBodyBytes); this field's value is refused.
    if (bytes > limits.maxBodyBytes) errors.push({ field: 'body', message: `body must be at most ${limits.maxBodyBytes} bytes of UTF-8, got ${bytes}` });
    else out.body = body;
  }

  const published = raw['published'];
  if (published !== undefined && published !== null && published !== '') {
    const normalised = typeof published === 'string' ? parsePublished(published) : null;
    if (normalised === null) errors.push({ field: 'published', message: 'published must be an ISO 8601 date, e.g. 2003-05-17 or 2003-05-17T10:00:00Z' });
    else out.published = normalised;
  } else if (mode === 'partial' && published !== undefined) {
    errors.push({ field: 'published', message: 'published cannot be emptied' });
  }

  if (errors.length > 0) return { ok: false, errors };
  if (mode === 'partial') return { ok: true, value: out };
  // An absent slug or date is left to the store (app-tier/store/types.ts): it derives a free
  // slug from the title ("hello", "hello-2", …) and dates the article now.
  return { ok: true, value: { ...out, title: out.title ?? '', body: out.body ?? '' } };
}
