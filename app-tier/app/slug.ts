/** Slugs derived from titles, in the alphabet of the router's `slug` converter. */
import { randomBytes } from 'node:crypto';

export const SLUG_PATTERN = /^[-a-zA-Z0-9_]+$/;
export const SLUG_MAX_LENGTH = 100;

/**
 * "Héllo, World!" → "hello-world", like Django's slugify(): fold accents (NFKD, then drop the
 * combining marks), keep ASCII letters and digits, join the rest with hyphens. A title with no
 * such characters at all (e.g. only CJK) gets a random slug, so creating it still works.
 */
export function slugify(title: string): string {
  const folded = title.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
  const slug = folded.replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, SLUG_MAX_LENGTH).replace(/-+$/, '');
  return slug === '' ? `article-${randomBytes(4).toString('hex')}` : slug;
}
