/**
 * Measures what the servers of one scenario cost: resident memory and CPU time of every
 * process the scenario started and of all their descendants (the CGI children of the web tier,
 * the workers of the app tier's cluster), read from /proc while the load runs, so the seed
 * chapter's "memory and load grow with every request" is a figure, not a claim.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  /** utime + stime in clock ticks. */
  readonly ownTicks: number;
  /** cutime + cstime: children this process has already waited for. */
  readonly reapedChildTicks: number;
}

/**
 * proc(5) /proc/<pid>/stat. The second field (comm) is in parentheses and may itself hold
 * spaces and ")", so the fields are counted from the last ")".
 */
export function parseStat(text: string): ProcStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const pid = Number(text.slice(0, open).trim());
  // After comm: state(3) ppid(4) … utime(14) stime(15) cutime(16) cstime(17).
  const rest = text.slice(close + 1).trim().split(/\s+/);
  const field = (n: number): number => Number(rest[n - 3]);
  const values = [field(4), field(14), field(15), field(16), field(17)];
  if (!Number.isInteger(pid) || values.some((value) => !Number.isFinite(value))) return null;
  return { pid, ppid: field(4), ownTicks: field(14) + field(15), reapedChildTicks: field(16) + field(17) };
}

/** proc(5) /proc/<pid>/status VmRSS in KiB; a zombie has none (0). */
export function parseStatusRssKiB(text: string): number {
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(text);
  return match === null ? 0 : Number(match[1]);
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    // The process exited between listing and reading: it is simply not part of this sample.
    return null;
  }
}

export interface TreeSample {
  readonly pids: readonly number[];
  readonly rssKiB: number;
  /**
   * Sum over the live tree of own + reaped-children ticks. A child's time moves into its
   * parent's cutime/cstime exactly when it is reaped, i.e. when it leaves the live tree, so
   * every tick is counted once even for CGI children that live between two samples.
   */
  readonly cpuTicks: number;
}

/** One look at the process trees below `rootPids` (roots included). */
export function sampleTree(rootPids: readonly number[], procDir = '/proc'): TreeSample {
  const stats = new Map<number, ProcStat>();
  let entries: string[];
  try {
    entries = readdirSync(procDir);
  } catch {
    entries = [];
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const text = readText(join(procDir, entry, 'stat'));
    const stat = text === null ? null : parseStat(text);
    if (stat !== null) stats.set(stat.pid, stat);
  }
  const childrenOf = new Map<number, number[]>();
  for (const stat of stats.values()) {
    const siblings = childrenOf.get(stat.ppid) ?? [];
    siblings.push(stat.pid);
    childrenOf.set(stat.ppid, siblings);
  }
  const tree: number[] = [];
  const queue = rootPids.filter((pid) => stats.has(pid));
  const seen = new Set<number>();
  // Bounded by the number of processes listed: each pid is visited at most once.
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    if (seen.has(pid)) continue;
    seen.add(pid);
    tree.push(pid);
    queue.push(...(childrenOf.get(pid) ?? []));
  }
  let rssKiB = 0;
  let cpuTicks = 0;
  for (const pid of tree) {
    const stat = stats.get(pid) as ProcStat;
    cpuTicks += stat.ownTicks + stat.reapedChildTicks;
    const status = readText(join(procDir, String(pid), 'status'));
    if (status !== null) rssKiB += parseStatusRssKiB(status);
  }
  return { pids: tree, rssKiB, cpuTicks };
}

export interface SamplerSummary {
  readonly samples: number;
  readonly peakRssMiB: number;
  readonly peakProcesses: number;
  readonly cpuSeconds: number;
}

export interface ProcessSampler {
  /** Takes the last sample, stops the timer and summarises. Idempotent. */
  stop(): SamplerSummary;
}

export interface ProcessSamplerOptions {
  readonly rootPids: readonly number[];
  readonly intervalMs?: number;
  readonly procDir?: string;
  /** USER_HZ: the unit of /proc/<pid>/stat times; 100 on every Linux architecture node supports. */
  readonly ticksPerSecond?: number;
}

/** Starts sampling at once (first sample taken synchronously) every `intervalMs` (default 100). */
export function createProcessSampler(options: ProcessSamplerOptions): ProcessSampler {
  const procDir = options.procDir ?? '/proc';
  const hz = options.ticksPerSecond ?? 100;
  const first = sampleTree(options.rootPids, procDir);
  let last = first;
  let samples = 1;
  let peakRssKiB = first.rssKiB;
  let peakProcesses = first.pids.length;
  const take = (): void => {
    const sample = sampleTree(options.rootPids, procDir);
    samples += 1;
    peakRssKiB = Math.max(peakRssKiB, sample.rssKiB);
    peakProcesses = Math.max(peakProcesses, sample.pids.length);
    // A tree that has vanished (servers already stopped) would read as negative CPU time.
    if (sample.pids.length > 0) last = sample;
  };
  const timer = setInterval(take, options.intervalMs ?? 100);
  timer.unref();
  let summary: SamplerSummary | undefined;
  return {
    stop(): SamplerSummary {
      if (summary !== undefined) return summary;
      clearInterval(timer);
      take();
      summary = {
        samples,
        peakRssMiB: peakRssKiB / 1024,
        peakProcesses,
        cpuSeconds: Math.max(0, last.cpuTicks - first.cpuTicks) / hz,
      };
      return summary;
    },
  };
}
