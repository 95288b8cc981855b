/**
 * What the benchmark needs to know about the machine it runs on: where the compiled tiers
 * are, which helper programs exist (taskset, nginx), the CPU and the commit, and how to pin
 * servers and load generator to separate cores.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { cpus, platform, arch, totalmem, availableParallelism, loadavg } from 'node:os';
import { basename, delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResult, Pinning } from './result-schema.js';

/**
 * The repository root, whether this file runs compiled (dist/bench/x.js) or as TypeScript
 * under tap (bench/x.ts): child processes always run the compiled JavaScript under dist/.
 */
export function repoRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return basename(dirname(here)) === 'dist' ? resolve(here, '..', '..') : resolve(here, '..');
}

export function distPath(...parts: string[]): string {
  return join(repoRoot(), 'dist', ...parts);
}

/** The V8 flags every launcher gives the web tier (npm start, pm2, Docker, the benchmark), relative to the repository root. */
export const NODE_FLAGS_FILE = join('deploy', 'node-flags.json');

/** `{ "web": ["--flag", …] }` → the web tier's flags; anything else is an error naming the file. */
export function parseWebNodeFlags(text: string, file: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`${file}: not JSON (${(error as Error).message})`);
  }
  const web = parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>)['web'] : undefined;
  if (!Array.isArray(web) || !web.every((flag): flag is string => typeof flag === 'string' && flag.startsWith('--'))) {
    throw new Error(`${file}: "web" must be a list of node flags such as ["--max-old-space-size=512"]`);
  }
  return [...web];
}

/**
 * Read when a web tier starts, not copied: the benchmark measures the shipped configuration.
 * A missing or malformed file fails the row (its reason names the file) rather than measuring
 * a web tier the deployment would never run.
 */
export function webNodeFlags(root: string): string[] {
  const file = join(root, NODE_FLAGS_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read the web tier's node flags from ${file}: ${(error as Error).message}`);
  }
  return parseWebNodeFlags(text, file);
}

/** The first executable `name` on PATH, or null (like `command -v`). */
export function findExecutable(name: string, pathList: string | undefined): string | null {
  for (const dir of (pathList ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here; keep looking along PATH.
    }
  }
  return null;
}

export function cpuCount(): number {
  return Math.max(1, availableParallelism());
}

export function describeMachine(): BenchResult['machine'] {
  const list = cpus();
  return {
    node: process.version,
    platform: `${platform()} ${arch()}`,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    cpuCount: cpuCount(),
    totalMemMiB: Math.round(totalmem() / (1024 * 1024)),
    loadAverage1m: Number((loadavg()[0] ?? 0).toFixed(2)),
  };
}

/** The checked-out commit, short, or "unknown" outside a git checkout. */
export function currentCommit(cwd: string): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
  } catch {
    return 'unknown';
  }
}

/**
 * On a small machine the load generator competes with the servers for the same cores and
 * the figures measure the contention. With taskset and ≥ 2 CPUs: the last CPU for the load
 * generator, all others for the servers (on 2 cores: servers on 0, autocannon on 1).
 */
export function choosePinning(enabled: boolean, cpus: number, tasksetPath: string | null): Pinning {
  if (!enabled || tasksetPath === null || cpus < 2) return { servers: null, loadGenerator: null, tool: null };
  const servers = cpus === 2 ? '0' : `0-${cpus - 2}`;
  return { servers, loadGenerator: String(cpus - 1), tool: 'taskset' };
}

/** The command line that runs `args` pinned to `cpuList` (or unpinned when null). */
export function pinnedCommand(cpuList: string | null, command: string, args: readonly string[]): { command: string; args: string[] } {
  if (cpuList === null) return { command, args: [...args] };
  return { command: 'taskset', args: ['-c', cpuList, command, ...args] };
}
