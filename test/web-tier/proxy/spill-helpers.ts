/**
 * What the request-buffering tests look at on disk: the descriptors this process holds into a
 * temp dir (a spilled body still open) and the files left in it.
 */
import { readdirSync, readlinkSync } from 'node:fs';

/** This process's descriptors that point into `dir`: an open spilled body. */
export function openInto(dir: string): string[] {
  const found: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(dir)) found.push(target);
    } catch {
      // closed between readdir and readlink
    }
  }
  return found;
}

/** Regular files anywhere under `dir`. */
export function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).map((entry) => entry.name);
}
