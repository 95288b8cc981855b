/**
 * The static file server's settings: its root, index, listings, Cache-Control rules, symlink
 * policy and caches. Validated once by web-tier/config.ts; createStaticHandler trusts them.
 */
import { z } from 'zod';
import { fields, type Frozen } from '../../common/config.js';

export const staticSchema = z.object({
  /** WEB_ROOT; a relative path is resolved against the package root, not the working directory. */
  root: z.string({ error: 'must be a directory path' }).min(1, 'must be a directory path'),
  /** The file served for a directory URL ending in "/". */
  index: z.string({ error: 'must be a file name' }).regex(/^[^/\\]+$/, 'must be a file name without slashes'),
  /** URL prefixes where a directory listing is on, like python -m http.server; [] = nowhere. */
  listingDirs: z.array(z.string().startsWith('/', 'must start with "/"'), { error: 'must be a list of path prefixes' }),
  /** First matching rule wins: { prefix?: "/assets/", pattern?: "regexp", value: "public, max-age=…" }; prefix and pattern both must match. */
  cacheControl: z.array(z.object({
    /** A URL path prefix, e.g. "/assets/" (decoded, like the paths it is tested against). */
    prefix: z.string().startsWith('/', 'must start with "/"').optional(),
    /** A regular expression (source text) tested against the decoded URL path. */
    pattern: z.string().refine((value) => { try { new RegExp(value); return true; } catch { return false; } }, 'must be a valid regular expression').optional(),
    value: z.string().min(1, 'must be a Cache-Control value'),
  }).strict(), { error: 'must be a list of { prefix?, pattern?, value } rules' }),
  /** Follow symlinks whose target is outside the root (or a dotfile). */
  followOutsideSymlinks: z.boolean({ error: 'must be true or false' }),
  /** Total bytes of file bodies held in memory. */
  cacheMaxBytes: fields.nonNegativeInt('a byte count (0 or more)'),
  /** Largest file held in memory; bigger files are streamed from disk. */
  cacheMaxFileBytes: fields.nonNegativeInt('a byte count (0 or more)'),
  /** How long a stat result (found, missing, directory) is trusted; 0 = stat every request. */
  statTtlMs: fields.nonNegativeInt('a number of milliseconds (0 or more)'),
}).strict();

export type StaticConfig = Frozen<z.infer<typeof staticSchema>>;
export type CacheControlRule = StaticConfig['cacheControl'][number];

export const STATIC_DEFAULTS: StaticConfig = Object.freeze({
  root: 'web-tier/public',
  index: 'index.html',
  listingDirs: Object.freeze([]),
  cacheControl: Object.freeze([
    // Fingerprinted build output (`app.3f2a9c1b.js`, `logo-0a1b2c3d4e.svg`): a new version gets a
    // new name, so the old one can be cached for a year and never revalidated (RFC 8246). A hex
    // hash with both a digit and a letter: a date stamp (`report-20240101.csv`) is not one.
    Object.freeze({ pattern: '[.-](?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\\.[A-Za-z0-9]+$', value: 'public, max-age=31536000, immutable' }),
    // Everything else may be stored but is revalidated each time (a cheap 304 with our ETag).
    Object.freeze({ value: 'public, max-age=0, must-revalidate' }),
  ]),
  followOutsideSymlinks: false,
  cacheMaxBytes: 32 * 1024 * 1024, // 32 MiB
  cacheMaxFileBytes: 128 * 1024, // 128 KiB
  statTtlMs: 1_000, // 1 s
});

/** The flat config-file keys used before the sections (issue 14) → their place in this one. */
export const STATIC_FORMER_KEYS: Readonly<Record<string, string>> = {
  root: 'root', staticIndex: 'index', listingDirs: 'listingDirs', cacheControl: 'cacheControl', followOutsideSymlinks: 'followOutsideSymlinks',
  staticCacheMaxBytes: 'cacheMaxBytes', staticCacheMaxFileBytes: 'cacheMaxFileBytes', staticStatTtlMs: 'statTtlMs',
};
