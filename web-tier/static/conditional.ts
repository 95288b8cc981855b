/**
 * Conditional requests, evaluated in the order RFC 9110 §13.2.2 prescribes, and If-Range
 * (§13.1.5). Pure functions over the request's header fields and the representation's
 * validators, so the handler stays a straight line.
 */
import type { IncomingHttpHeaders } from 'node:http';

export interface Validators {
  /** A strong entity-tag, quoted: `"abc"`. */
  readonly etag: string;
  /** Last-Modified in milliseconds, whole seconds. */
  readonly lastModifiedMs: number;
}

export type PreconditionOutcome = 'proceed' | 'not-modified' | 'failed';

interface EntityTag {
  readonly weak: boolean;
  readonly opaque: string;
}

const ENTITY_TAG = /(W\/)?"([^"]*)"/g;

/** Parses `"a", W/"b"` into tags; `*` is handled by the callers. Malformed members are skipped. */
export function parseEntityTags(value: string): EntityTag[] {
  const tags: EntityTag[] = [];
  for (const match of value.matchAll(ENTITY_TAG)) tags.push({ weak: match[1] !== undefined, opaque: match[2] ?? '' });
  return tags;
}

function opaqueOf(etag: string): string {
  return etag.startsWith('W/') ? etag.slice(3, -1) : etag.slice(1, -1);
}

/** RFC 9110 §8.8.3.2: weak comparison ignores the W/ prefix. */
function matchesWeak(list: string, etag: string): boolean {
  if (list.trim() === '*') return true;
  const opaque = opaqueOf(etag);
  return parseEntityTags(list).some((tag) => tag.opaque === opaque);
}

/** RFC 9110 §8.8.3.2: strong comparison needs both tags strong and equal. */
function matchesStrong(list: string, etag: string): boolean {
  if (list.trim() === '*') return true;
  if (etag.startsWith('W/')) return false;
  const opaque = opaqueOf(etag);
  return parseEntityTags(list).some((tag) => !tag.weak && tag.opaque === opaque);
}

/** An HTTP-date, or undefined when the value is not one (then the condition is ignored). */
export function parseHttpDate(value: string | undefined): number | undefined {
  // RFC 9110 §13.1.3/§13.1.4: a list (a comma outside the date's own "Sun, 06 Nov") or an invalid date is ignored.
  if (value === undefined || value.indexOf(',') !== value.lastIndexOf(',')) return undefined;
  const time = Date.parse(value);
  return Number.isNaN(time) ? undefined : time;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * RFC 9110 §13.2.2, steps 1–4, for a resource that exists and a GET or HEAD request:
 * If-Match, else If-Unmodified-Since (→ 412); then If-None-Match, else If-Modified-Since (→ 304).
 */
export function evaluatePreconditions(headers: IncomingHttpHeaders, validators: Validators): PreconditionOutcome {
  const ifMatch = header(headers, 'if-match');
  if (ifMatch !== undefined) {
    // §13.1.1: If-Match uses the strong comparison.
    if (!matchesStrong(ifMatch, validators.etag)) return 'failed';
  } else {
    const since = parseHttpDate(header(headers, 'if-unmodified-since'));
    if (since !== undefined && validators.lastModifiedMs > since) return 'failed';
  }
  const ifNoneMatch = header(headers, 'if-none-match');
  if (ifNoneMatch !== undefined) {
    // §13.1.2: If-None-Match uses the weak comparison; for GET/HEAD a match is a 304.
    return matchesWeak(ifNoneMatch, validators.etag) ? 'not-modified' : 'proceed';
  }
  // §13.1.3: If-Modified-Since is ignored when If-None-Match is present (returned above).
  const modifiedSince = parseHttpDate(header(headers, 'if-modified-since'));
  if (modifiedSince !== undefined && validators.lastModifiedMs <= modifiedSince) return 'not-modified';
  return 'proceed';
}

/**
 * RFC 9110 §13.1.5: the Range applies only when If-Range still names the current
 * representation: an entity-tag by strong comparison, or a date equal to Last-Modified.
 * No If-Range at all means the Range applies.
 */
export function ifRangeAllows(headers: IncomingHttpHeaders, validators: Validators): boolean {
  const ifRange = header(headers, 'if-range');
  if (ifRange === undefined) return true;
  const value = ifRange.trim();
  if (value.startsWith('"') || value.startsWith('W/')) {
    const tags = parseEntityTags(value);
    return tags.length === 1 && matchesStrong(value, validators.etag);
  }
  const date = parseHttpDate(value);
  return date !== undefined && date === validators.lastModifiedMs;
}
