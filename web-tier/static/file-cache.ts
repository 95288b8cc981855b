/**
 * Small hot files kept in memory, so a hit is one writeHead and one end(buffer) with no file
 * system call at all. Bounded twice: files above `maxFileBytes` are never held (they are
 * streamed), and the total stays under `maxBytes` by dropping the least recently used.
 * A held body is tied to the file version it was read from (FileInfo.etagCore): when the
 * resolver's revalidation sees a new version, the old bytes are not served.
 */
import { readFile } from 'node:fs/promises';
import type { FileInfo } from './resolve.js';

export interface FileCacheOptions {
  readonly maxBytes: number;
  readonly maxFileBytes: number;
}

export interface FileCache {
  /** The cached body of exactly this file version, or undefined. Marks it recently used. */
  get(file: FileInfo): Buffer | undefined;
  /**
   * Reads and holds the body when the file is small enough; undefined when it is too big, or
   * when it changed size while being read (the caller then streams, whose own checks apply).
   */
  load(file: FileInfo): Promise<Buffer | undefined>;
  /** True when `load` would hold this file (not too big for the limits). */
  accepts(file: FileInfo): boolean;
  readonly bytes: number;
  readonly size: number;
  clear(): void;
}

interface Held {
  readonly version: string;
  readonly body: Buffer;
}

export function createFileCache(options: FileCacheOptions): FileCache {
  const held = new Map<string, Held>();
  const loading = new Map<string, Promise<Buffer | undefined>>();
  let bytes = 0;
  /** The path `get` moved to the end of `held` last: a hot file is not moved again on every request. */
  let lastUsed: string | undefined;

  function drop(path: string): void {
    const entry = held.get(path);
    if (entry === undefined) return;
    held.delete(path);
    bytes -= entry.body.length;
  }

  function accepts(file: FileInfo): boolean {
    return file.size <= options.maxFileBytes && file.size <= options.maxBytes;
  }

  async function read(file: FileInfo): Promise<Buffer | undefined> {
    let body: Buffer;
    try {
      body = await readFile(file.path);
    } catch {
      return undefined;
    }
    if (body.length !== file.size) return undefined;
    drop(file.path);
    held.set(file.path, { version: file.etagCore, body });
    lastUsed = file.path;
    bytes += body.length;
    // Map iteration order is insertion order: the first keys are the least recently used.
    for (const path of held.keys()) {
      if (bytes <= options.maxBytes) break;
      drop(path);
    }
    return body;
  }

  return {
    get(file) {
      const entry = held.get(file.path);
      if (entry === undefined) return undefined;
      if (entry.version !== file.etagCore) {
        drop(file.path);
        return undefined;
      }
      // Least recently used order: move it to the end, unless it is already the last one used.
      if (lastUsed !== file.path) {
        held.delete(file.path);
        held.set(file.path, entry);
        lastUsed = file.path;
      }
      return entry.body;
    },
    load(file) {
      if (!accepts(file)) return Promise.resolve(undefined);
      const key = `${file.path}\u0000${file.etagCore}`;
      let pending = loading.get(key);
      if (pending === undefined) {
        pending = read(file).finally(() => loading.delete(key));
        loading.set(key, pending);
      }
      return pending;
    },
    accepts,
    get bytes() {
      return bytes;
    },
    get size() {
      return held.size;
    },
    clear() {
      held.clear();
      bytes = 0;
    },
  };
}
