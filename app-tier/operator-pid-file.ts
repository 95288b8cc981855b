/**
 * The primary's pid file, so that `npm run reload` can find the running app tier and send it
 * SIGHUP. One file per instance: by default its name carries the address and port the tier
 * serves (./data/app-tier-127.0.0.1-3000.pid), so two app tiers started in one folder never
 * share one. A file is claimed only when it is free or stale (no such process, or a process
 * that is not an app tier), never taken from a live app tier, and removed on exit only while
 * it still holds our pid.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';

export interface PidFile {
  readonly path: string;
  /** Removes the file if it still holds our pid. */
  remove(): void;
}

/** The file is held by another live app tier. */
export class PidFileHeldError extends Error {
  readonly code = 'APP_PID_FILE_HELD';
  readonly file: string;
  readonly holder: number;
  constructor(file: string, holder: number) {
    super(`${file} belongs to the running app tier pid ${holder}`);
    this.name = 'PidFileHeldError';
    this.file = file;
    this.holder = holder;
  }
}

/** A host as it may appear in a file name: `::` → `__`. */
function hostForName(host: string): string {
  return host.replace(/[^A-Za-z0-9.-]/g, '_');
}

/**
 * This instance's pid file. `{host}` and `{port}` in the configured path are replaced; the
 * default path (perInstance) gets `-<host>-<port>` before its extension; any other path is
 * the operator's explicit choice and used as it is.
 */
export function instancePidFile(configured: string, perInstance: boolean, host: string, port: number): string {
  if (/\{(host|port)\}/.test(configured)) return configured.replace(/\{host\}/g, hostForName(host)).replace(/\{port\}/g, String(port));
  if (!perInstance) return configured;
  const extension = extname(configured);
  return `${configured.slice(0, configured.length - extension.length)}-${hostForName(host)}-${port}${extension}`;
}

/** Every existing file that instancePidFile could have named, for any host and port. */
export function instancePidFiles(configured: string, perInstance: boolean): string[] {
  const dir = dirname(configured);
  const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  let pattern: RegExp;
  if (/\{(host|port)\}/.test(basename(configured))) {
    pattern = new RegExp(`^${escape(basename(configured)).replace(/\\\{host\\\}/g, '[A-Za-z0-9._-]+').replace(/\\\{port\\\}/g, '\\d+')}$`);
  } else if (perInstance) {
    const extension = extname(configured);
    pattern = new RegExp(`^${escape(basename(configured, extension))}-[A-Za-z0-9._-]+-\\d+${escape(extension)}$`);
  } else {
    return [configured];
  }
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((name) => pattern.test(name)).sort().map((name) => join(dir, name));
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

/** The pid of the live app tier that `file` names, if any (a stale file names none). */
export function heldBy(file: string): number | undefined {
  const pid = readPid(file);
  return pid !== undefined && pid !== process.pid && pidState(pid) === 'running' ? pid : undefined;
}

/**
 * Writes `pid` to `file` (creating its folder) unless a live app tier holds it: then throws
 * PidFileHeldError. A stale file is replaced. Created with O_EXCL, so of two primaries
 * claiming one free file at once only one gets it.
 */
export function claimPidFile(file: string, pid: number): PidFile {
  mkdirSync(dirname(file), { recursive: true });
  for (let attempt = 0; ; attempt += 1) {
    try {
      writeFileSync(file, `${pid}\n`, { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 2) throw error;
    }
    const holder = readPid(file);
    if (holder === pid) break;
    if (holder !== undefined && pidState(holder) === 'running') throw new PidFileHeldError(file, holder);
    rmSync(file, { force: true });
  }
  return {
    path: file,
    remove() {
      if (readPid(file) === pid) rmSync(file, { force: true });
    },
  };
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
