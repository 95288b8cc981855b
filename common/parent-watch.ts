/**
 * A tier exits with its launcher, however the launcher went. Linux would tell a child through
 * prctl(PR_SET_PDEATHSIG), which node does not expose; and a signal to a launcher reaches only
 * that process: npm forwards SIGTERM to the shell that runs the script (`sh -c "node …"`), the
 * shell dies of it and its child is re-parented to init (or a subreaper), still serving. A
 * SIGKILLed launcher runs no handler at all. So each entry point records, at start, the chain
 * of launchers it depends on and polls that the chain is unbroken: its own parent pid is the
 * same, and each launcher further up is still the parent of the one below (/proc/PID/stat on
 * Linux). Re-parenting is what a dead parent looks like, and no pid is ever compared after it
 * could have been reused.
 *
 * Which launchers: our own (`npm start`'s deploy/start.mjs sets TWOTIER_LAUNCHER_PID in each
 * tier's env), or npm (`npm run app`, `npm start`: npm's shell and npm itself). A process
 * started any other way (a shell with `&`, systemd, a container's init) is left alone: it may
 * be meant to outlive its parent, and pm2 watches its own processes.
 */
import { readFileSync } from 'node:fs';

/** Set by deploy/start.mjs in each tier's env: its own pid. */
export const LAUNCHER_ENV = 'TWOTIER_LAUNCHER_PID';

/** How often the chain is checked: a tier starts stopping within this of its launcher's death. */
export const PARENT_WATCH_INTERVAL_MS = 500;

/** The parent pid of `pid` (Linux /proc), or undefined when it cannot be read (gone, or no /proc). */
export function readParentPid(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'.
  const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  return Number.isSafeInteger(ppid) ? ppid : undefined;
}

export interface LauncherChain {
  /** Parent first, then its parent…; empty when there is nothing to watch. */
  readonly pids: readonly number[];
  /** Who the launcher is, for the log line. */
  readonly launcher: 'twotier' | 'npm' | 'none';
}

/**
 * Which ancestors this process must not outlive. Pure but for `parentOf` (readParentPid).
 */
export function launcherChain(
  env: Readonly<Record<string, string | undefined>>,
  ppid: number,
  parentOf: (pid: number) => number | undefined = readParentPid,
  exists: (pid: number) => boolean = processExists,
): LauncherChain {
  // Under pm2 (its God daemon is the parent) pm2 is the process manager.
  if (env['pm_id'] !== undefined || env['NODE_APP_INSTANCE'] !== undefined) return { pids: [], launcher: 'none' };
  const launcher = Number(env[LAUNCHER_ENV]);
  if (Number.isSafeInteger(launcher) && launcher > 1) {
    if (launcher === ppid) return { pids: [ppid], launcher: 'twotier' };
    // Our launcher died while we were still loading (seconds on a loaded box): we are already
    // re-parented, and the first check fires. A launcher alive elsewhere is not ours (the
    // variable was inherited by a grandchild).
    if (!exists(launcher)) return { pids: [launcher], launcher: 'twotier' };
  }
  if (ppid <= 1) return { pids: [], launcher: 'none' };
  if (env['npm_lifecycle_event'] !== undefined) {
    // npm runs scripts through a shell: watch the shell and, above it, npm.
    const above = parentOf(ppid);
    return { pids: above === undefined || above <= 1 ? [ppid] : [ppid, above], launcher: 'npm' };
  }
  return { pids: [], launcher: 'none' };
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface ParentWatch {
  stop(): void;
}

export interface ParentWatchOptions {
  readonly chain: LauncherChain;
  /** Called once, with the pid of the launcher that is gone. */
  readonly onGone: (pid: number) => void;
  readonly intervalMs?: number;
  readonly currentPpid?: () => number;
  readonly parentOf?: (pid: number) => number | undefined;
}

/** Polls the chain (an unref'd timer: it never keeps the process alive by itself). */
export function watchLaunchers(options: ParentWatchOptions): ParentWatch {
  const pids = options.chain.pids;
  const currentPpid = options.currentPpid ?? ((): number => process.ppid);
  const parentOf = options.parentOf ?? readParentPid;
  if (pids.length === 0) return { stop: () => undefined };
  const broken = (): number | undefined => {
    if (currentPpid() !== pids[0]) return pids[0];
    for (let index = 1; index < pids.length; index += 1) {
      if (parentOf(pids[index - 1] as number) !== pids[index]) return pids[index];
    }
    return undefined;
  };
  const timer = setInterval(() => {
    const gone = broken();
    if (gone === undefined) return;
    clearInterval(timer);
    options.onGone(gone);
  }, options.intervalMs ?? PARENT_WATCH_INTERVAL_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
