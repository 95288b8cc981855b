/**
 * Temp files for request bodies that outgrow the in-memory buffer (nginx `client_body_temp_path`).
 * One private directory per proxy, made on the first spill (mkdtemp: mode 0700, a random name);
 * each file is created exclusively with mode 0600 and unlinked at once, as nginx does with a
 * temp file that is not to be kept (src/os/unix/ngx_files.c, ngx_open_tempfile): its name is gone
 * while the descriptor lives, so no way out of a request (success, 413, a client that leaves, a
 * timeout, a crash, SIGKILL) can leave a body on disk, and no other local user can open it by
 * name meanwhile. Closing the descriptor gives the space back.
 */
import { mkdir, mkdtemp, open, rm, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SpillDir {
  /** A new temp file, open for reading and writing, with no name left on disk. */
  createFile(): Promise<FileHandle>;
  /** Bytes of spilled bodies whose files are open now (counted by the caller through `reserve`). */
  readonly spilledBytes: number;
  /**
   * Reserves `bytes` of the disk budget; false when that would pass it (nothing reserved).
   * Give them back with `release` when the file is closed.
   */
  reserve(bytes: number): boolean;
  release(bytes: number): void;
  /** Removes the directory; files already open stay readable (they have no name anyway). */
  close(): Promise<void>;
}

export interface SpillDirOptions {
  /** The parent directory; '' = the system's temp directory (os.tmpdir(), TMPDIR). */
  readonly parent: string;
  /** Bytes all spilled bodies may take on disk at once; 0 = no bound beyond the body limit per file. */
  readonly maxTotalBytes: number;
}

export function createSpillDir(options: SpillDirOptions): SpillDir {
  let dir: Promise<string> | undefined;
  let files = 0;
  let spilledBytes = 0;
  let closed = false;

  function ensureDir(): Promise<string> {
    if (dir === undefined) {
      const parent = options.parent === '' ? tmpdir() : options.parent;
      const made = mkdir(parent, { recursive: true, mode: 0o700 }).then(() => mkdtemp(join(parent, 'twotier-body-')));
      // A failure (a full or read-only disk) is tried again at the next spill, not remembered.
      made.catch(() => {
        if (dir === made) dir = undefined;
      });
      dir = made;
    }
    return dir;
  }

  return {
    async createFile() {
      if (closed) throw new Error('the proxy is closed: no more temp files');
      files += 1;
      const name = `body-${files}`;
      const path = join(await ensureDir(), name);
      // 'wx+': O_CREAT|O_EXCL, never an existing file or a symlink planted in its place.
      const handle = await open(path, 'wx+', 0o600);
      try {
        await unlink(path);
      } catch (error) {
        await handle.close();
        throw error;
      }
      return handle;
    },
    get spilledBytes() {
      return spilledBytes;
    },
    reserve(bytes) {
      if (options.maxTotalBytes > 0 && spilledBytes + bytes > options.maxTotalBytes) return false;
      spilledBytes += bytes;
      return true;
    },
    release(bytes) {
      spilledBytes = Math.max(0, spilledBytes - bytes);
    },
    async close() {
      closed = true;
      const made = await dir?.catch(() => undefined);
      if (made !== undefined) await rm(made, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}
