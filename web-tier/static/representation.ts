/**
 * What is sent for a file, computed once per file version instead of once per request: the
 * Content-Type (mime-types, with a charset for text), the validators, the Cache-Control value
 * picked by the operator's rules, and the header objects for 200 and 304 answers.
 */
import { extname } from 'node:path';
import mime from 'mime-types';
import type { CacheControlRule } from './config.js';
import type { ContentCoding } from './encodings.js';
import type { FileInfo } from './resolve.js';

export interface Representation {
  /** The bytes on disk: the file itself or its precompressed twin. */
  readonly file: FileInfo;
  readonly coding: ContentCoding;
  readonly etag: string;
  readonly lastModifiedMs: number;
  /** Headers of a 200: Content-Length, validators, type, caching. Never mutated. */
  readonly headers: Readonly<Record<string, string>>;
  /** RFC 9110 §15.4.5: a 304 repeats ETag, Cache-Control, Vary (and Last-Modified as a validator). */
  readonly notModifiedHeaders: Readonly<Record<string, string>>;
  /**
   * `headers` and `notModifiedHeaders` as flat [name, value, …] lists: node writes a list
   * handed to writeHead straight out, without a setHeader per field (issue 8's fast path).
   */
  readonly headerList: readonly string[];
  readonly notModifiedList: readonly string[];
}

/** Compiles the rules once at start-up; the returned function picks the first match. */
export function compileCacheControl(rules: readonly CacheControlRule[]): (urlPath: string) => string | undefined {
  const compiled = rules.map((rule) => ({
    prefix: rule.prefix,
    pattern: rule.pattern === undefined ? undefined : new RegExp(rule.pattern),
    value: rule.value,
  }));
  return (urlPath) => {
    for (const rule of compiled) {
      if (rule.prefix !== undefined && !urlPath.startsWith(rule.prefix)) continue;
      if (rule.pattern !== undefined && !rule.pattern.test(urlPath)) continue;
      return rule.value;
    }
    return undefined;
  };
}

const contentTypes = new Map<string, string>();

/** mime-types adds `charset=utf-8` to text types; unknown extensions are opaque bytes. */
export function contentTypeFor(fileName: string): string {
  const extension = extname(fileName).toLowerCase();
  let type = contentTypes.get(extension);
  if (type === undefined) {
    type = (extension === '' ? false : mime.contentType(extension)) || 'application/octet-stream';
    // Bounded: only extensions that exist on disk reach here, and the table is small.
    if (contentTypes.size < 1000) contentTypes.set(extension, type);
  }
  return type;
}

export interface RepresentationInput {
  readonly file: FileInfo;
  readonly coding: ContentCoding;
  /** The name the client asked for (not the twin's), for the Content-Type. */
  readonly fileName: string;
  readonly cacheControl: string | undefined;
  /** True when precompressed twins exist, so the choice depended on Accept-Encoding. */
  readonly varies: boolean;
}

export function buildRepresentation(input: RepresentationInput): Representation {
  const { file, coding } = input;
  // A twin gets its own entity-tag (RFC 9110 §8.8.3: validators are per representation).
  const etag = coding === 'identity' ? `"${file.etagCore}"` : `"${file.etagCore}-${coding}"`;
  const common: Record<string, string> = { ETag: etag, 'Last-Modified': file.lastModified };
  if (input.cacheControl !== undefined) common['Cache-Control'] = input.cacheControl;
  if (input.varies) common['Vary'] = 'Accept-Encoding';
  const headers: Record<string, string> = {
    'Content-Type': contentTypeFor(input.fileName),
    'Content-Length': String(file.size),
    'Accept-Ranges': 'bytes',
    // Browsers must not second-guess the type we computed (a .txt upload rendered as HTML).
    'X-Content-Type-Options': 'nosniff',
    ...common,
  };
  if (coding !== 'identity') headers['Content-Encoding'] = coding;
  return {
    file,
    coding,
    etag,
    lastModifiedMs: file.lastModifiedMs,
    headers: Object.freeze(headers),
    notModifiedHeaders: Object.freeze(common),
    headerList: Object.freeze(Object.entries(headers).flat()),
    notModifiedList: Object.freeze(Object.entries(common).flat()),
  };
}
