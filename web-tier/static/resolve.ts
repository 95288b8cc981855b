/**
 * Maps safe path segments to what is on disk, with the stat work bounded: every answer
 * (including "missing") is cached for `statTtlMs`, concurrent lookups of one path share one
 * stat, and the cache holds at most `maxEntries` paths (oldest dropped first), so a flood of
 * requests for random names costs one stat each and no unbounded memory.
 *
 * Symlinks are resolved with realpath; one that leads outside the root, or onto a dotfile
 * inside it, is reported as `outside` unless the operator opted in with followOutsideSymlinks.
 */
import { realpathSync, type BigIntStats } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';

export interface FileInfo {
  /** The path that was looked up (root + segments), used to open the file. */
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  /** Last-Modified truncated to whole seconds: HTTP-date has no finer resolution (RFC 9110 §5.6.7). */
  readonly lastModifiedMs: number;
  readonly lastModified: string;
  /**
   * A strong validator (RFC 9110 §8.8.3) from inode, size and mtime in nanoseconds: any write
   * that changes the bytes changes at least one of them, which is what "strong" requires in
   * practice; hashing every file would cost a full read per change.
   */
  readonly etagCore: string;
  /** When this stat was made (the resolver's clock): callers that keep a FileInfo keep it no longer than the TTL. */
  readonly checkedAt: number;
}

export type Lookup =
  | { readonly kind: 'file'; readonly file: FileInfo }
  | { readonly kind: 'directory'; readonly path: string }
  | { readonly kind: 'missing' }
  | { readonly kind: 'outside' };

export interface ResolverOptions {
  readonly root: string;
  readonly followOutsideSymlinks: boolean;
  readonly statTtlMs: number;
  readonly maxEntries: number;
  /** Injected clock for tests; Date.now by default. */
  readonly now?: () => number;
}

export interface Resolver {
  /** The root after realpath (what "inside the root" is measured against). */
  readonly root: string;
  lookup(segments: readonly string[]): Promise<Lookup>;
  /** Forgets one cached path (absolute, as in FileInfo.path), e.g. after a failed open. */
  forget(path: string): void;
  clear(): void;
}

interface Entry {
  readonly expires: number;
  readonly result: Promise<Lookup>;
}

const MISSING: Lookup = Object.freeze({ kind: 'missing' });
const OUTSIDE: Lookup = Object.freeze({ kind: 'outside' });

export function createResolver(options: ResolverOptions): Resolver {
  const now = options.now ?? Date.now;
  const root = realRoot(options.root);
  const entries = new Map<string, Entry>();

  async function statPath(path: string, checkedAt: number): Promise<Lookup> {
    let stats: BigIntStats;
    try {
      stats = await stat(path, { bigint: true });
    } catch {
      return MISSING;
    }
    if (!options.followOutsideSymlinks) {
      let real: string;
      try {
        real = await realpath(path);
      } catch {
        return MISSING;
      }
      if (!isInside(root, real)) return OUTSIDE;
      // A link inside the root must not launder a dotfile (`public/env -> ../.env` style).
      if (relative(root, real).split(sep).some((part) => part.startsWith('.') && part !== '.well-known')) return OUTSIDE;
    }
    if (stats.isDirectory()) return { kind: 'directory', path };
    if (!stats.isFile()) return MISSING;
    const lastModifiedMs = Number(stats.mtimeMs / 1000n) * 1000;
    const file: FileInfo = {
      path,
      size: Number(stats.size),
      mtimeMs: Number(stats.mtimeMs),
      lastModifiedMs,
      lastModified: new Date(lastModifiedMs).toUTCString(),
      etagCore: `${stats.ino.toString(16)}-${stats.size.toString(16)}-${stats.mtimeNs.toString(16)}`,
      checkedAt,
    };
    return { kind: 'file', file };
  }

  function lookupPath(path: string): Promise<Lookup> {
    const at = now();
    const cached = entries.get(path);
    if (cached !== undefined && cached.expires > at) return cached.result;
    if (cached !== undefined) entries.delete(path);
    const result = statPath(path, at);
    if (options.statTtlMs > 0) {
      entries.set(path, { expires: at + options.statTtlMs, result });
      if (entries.size > options.maxEntries) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
    }
    return result;
  }

  return {
    root,
    lookup: (segments) => lookupPath(segments.length === 0 ? root : join(root, ...segments)),
    forget: (path) => {
      entries.delete(path);
    },
    clear: () => entries.clear(),
  };
}

function realRoot(root: string): string {
  try {
    return realpathSync(root);
  } catch {
    // A root that does not exist yet serves 404s until it does; it is measured as given.
    return resolve(root);
  }
}

export function isInside(root: string, candidate: string): boolean {
  if (candidate === root) return true;
  const prefix = root.endsWith(sep) ? root : root + sep;
  return candidate.startsWith(prefix);
}
