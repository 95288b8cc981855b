/**
 * The latest benchmark (`bench/results/latest.json`, written by `npm run bench`) in a few lines
 * for the status page. Read loosely, field by field: the web tier does not import bench/ (the
 * arrows go from bench to the tiers), and a file from an older bench must not break the page.
 * Re-read only when the file's mtime changes.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface BenchRow {
  name: string;
  status: string;
  rps: number;
  p99Ms?: number;
  peakRssMiB?: number;
}

export interface BenchSummary {
  startedAt?: string;
  commit?: string;
  node?: string;
  cpuModel?: string;
  rows: BenchRow[];
}

export interface BenchReader {
  /** null when no bench has been run (no file); { error } when the file cannot be read. */
  latest(): Promise<BenchSummary | { error: string } | null>;
}

const MAX_ROWS = 40;

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

export function summariseBench(result: unknown): BenchSummary | { error: string } {
  if (typeof result !== 'object' || result === null) return { error: 'not a bench result' };
  const record = result as Record<string, unknown>;
  const machine = (typeof record['machine'] === 'object' && record['machine'] !== null ? record['machine'] : {}) as Record<string, unknown>;
  const scenarios = Array.isArray(record['scenarios']) ? record['scenarios'] : [];
  const rows: BenchRow[] = [];
  for (const scenario of scenarios.slice(0, MAX_ROWS)) {
    if (typeof scenario !== 'object' || scenario === null) continue;
    const fields = scenario as Record<string, unknown>;
    const name = text(fields['name']);
    if (name === undefined) continue;
    const row: BenchRow = { name, status: text(fields['status']) ?? 'ok', rps: num(fields['rps']) ?? 0 };
    const latency = fields['latencyMs'];
    const p99 = typeof latency === 'object' && latency !== null ? num((latency as Record<string, unknown>)['p99']) : undefined;
    if (p99 !== undefined) row.p99Ms = p99;
    const rss = num(fields['peakRssMiB']);
    if (rss !== undefined) row.peakRssMiB = rss;
    rows.push(row);
  }
  const summary: BenchSummary = { rows };
  const startedAt = text(record['startedAt']);
  if (startedAt !== undefined) summary.startedAt = startedAt;
  const commit = text(record['commit']);
  if (commit !== undefined) summary.commit = commit;
  const node = text(machine['node']);
  if (node !== undefined) summary.node = node;
  const cpuModel = text(machine['cpuModel']);
  if (cpuModel !== undefined) summary.cpuModel = cpuModel;
  return summary;
}

export function createBenchReader(dir: string | undefined): BenchReader {
  let cached: { mtimeMs: number; summary: BenchSummary | { error: string } } | undefined;
  return {
    async latest() {
      if (dir === undefined) return null;
      const file = join(dir, 'latest.json');
      let mtimeMs: number;
      try {
        mtimeMs = (await stat(file)).mtimeMs;
      } catch {
        return null;
      }
      if (cached !== undefined && cached.mtimeMs === mtimeMs) return cached.summary;
      let summary: BenchSummary | { error: string };
      try {
        summary = summariseBench(JSON.parse(await readFile(file, 'utf8')));
      } catch {
        summary = { error: 'latest.json is not valid JSON' };
      }
      cached = { mtimeMs, summary };
      return summary;
    },
  };
}
