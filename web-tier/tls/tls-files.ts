/**
 * The TLS files under data/tls/ (internal CA, ACME account and certificates): written beside and
 * renamed into place, so a reader (another start, a crash half-way) never sees half a file, and
 * a key is 0600 from its first byte (the mode is given at open and set again past the umask).
 */
import { chmod, readFile, rename, writeFile } from 'node:fs/promises';

export async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, text, { mode });
  await chmod(temp, mode);
  await rename(temp, path);
}

/** The file's text, or undefined when it does not exist (any other error is thrown). */
export async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
