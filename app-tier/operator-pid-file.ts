/**
 * The primary's pid file, so that `npm run reload` can find the running app tier and send it
 * SIGHUP. Written when the primary listens, removed when it exits; a file left by a killed
 * primary is recognised as stale (no such process, or a process that is not an app tier).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface PidFile {
  /** Removes the file if it still holds our pid (a newer primary may have taken it over). */
  remove(): void;
}

/** Writes `pid` to `file` (creating its folder). Returns the pid found there before, if any. */
export function writePidFile(file: string, pid: number): PidFile & { previous: number | undefined } {
  const previous = readPid(file);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${pid}\n`);
  return {
    previous,
    remove() {
      if (readPid(file) === pid) rmSync(file, { force: true });
    },
  };
}

/** The pid in `file`, or undefined when there is no file or it holds no pid. */
export function readPid(file: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

export type PidState = 'running' | 'gone' | 'other-process';

/**
 * Is `pid` a running app-tier primary? Signal 0 checks it exists; on Linux /proc tells whether
 * it runs app-tier/main.js, so a pid reused by another program after a crash gets no SIGHUP.
 */
export function pidState(pid: number, readCmdline: (pid: number) => string | undefined = procCmdline): PidState {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists but belongs to someone else, so it is not our app tier either.
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? 'other-process' : 'gone';
  }
  const cmdline = readCmdline(pid);
  if (cmdline === undefined) return 'running';
  return /app-tier[/\\]main\.js/.test(cmdline) ? 'running' : 'other-process';
}

function procCmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return undefined;
  }
}
