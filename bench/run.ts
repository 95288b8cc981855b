/**
 * Runs the selected scenarios one after another: start servers, check one answer, warm up and
 * measure in the load generator process while the sampler watches the servers, stop servers.
 * A scenario that cannot start or answers wrongly becomes a 'failed' row; the run goes on.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpsGet } from './https-rows.js';
import { runLoad } from './load-runner.js';
import type { LoadSummary } from './load-protocol.js';
import { createProcessSampler, type SamplerSummary } from './process-sampler.js';
import type { Progress } from './progress.js';
import type { BenchFlags, BenchResult, Pinning, ScenarioResult } from './result-schema.js';
import { STATIC_FILES, type RunningScenario, type Scenario, type ScenarioContext } from './scenarios.js';
import { measureWs } from './ws-rows.js';
import { resumptionVerdict } from './tls-resume-load.js';

export interface RunBenchOptions {
  readonly flags: BenchFlags;
  readonly scenarios: readonly Scenario[];
  /** Repository root: the servers' working directory. */
  readonly root: string;
  readonly pinning: Pinning;
  readonly nginxPath: string | null;
  /** The environment every server starts with (launcher.ts baseEnv). */
  readonly serverEnv: Readonly<Record<string, string>>;
  readonly machine: BenchResult['machine'];
  readonly commit: string;
  readonly progress: Progress;
  readonly signal?: AbortSignal;
  readonly now?: () => Date;
}

const EMPTY = { rps: 0, latencyMs: { p50: 0, p90: 0, p99: 0, max: 0 }, errors: 0, non2xx: 0, bytesPerSec: 0, peakRssMiB: 0, cpuSeconds: 0, peakProcesses: 0, requests: 0 };

function unfinished(scenario: Scenario, status: 'skipped' | 'failed', reason: string): ScenarioResult {
  return { name: scenario.name, description: scenario.description, status, reason, ...EMPTY };
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n').slice(0, 4).join(' / ');
}

/** Fills the web root with the static files the static rows ask for (printable, so any client can look). */
function makeWebRoot(workDir: string, dir: string): void {
  // mkdtemp makes the scratch directory 0700; nginx started as root serves from workers running
  // as "nobody", which would answer 403. Nothing in here is secret.
  chmodSync(workDir, 0o755);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const file of Object.values(STATIC_FILES)) {
    const line = 'twotier static benchmark file, the same bytes on every run.\n';
    writeFileSync(join(dir, file.name), line.repeat(Math.ceil(file.bytes / line.length)).slice(0, file.bytes), { mode: 0o644 });
  }
}

/** One request before the load: a wrong answer here would otherwise be measured as speed. */
async function checkAnswer(url: string, servedBy: string | null, ca?: string): Promise<void> {
  const response = ca === undefined ? await fetch(url, { signal: AbortSignal.timeout(15_000) }) : undefined;
  const answer = response === undefined ? await httpsGet(url, ca as string) : { status: response.status, servedBy: response.headers.get('x-served-by'), body: await response.text() };
  const { body } = answer;
  const path = new URL(url).pathname;
  if (answer.status < 200 || answer.status > 299) {
    throw new Error(`GET ${path} answered ${answer.status}: ${body.slice(0, 160).replace(/\s+/g, ' ')}`);
  }
  const actual = answer.servedBy;
  if (servedBy !== null && actual !== servedBy) {
    throw new Error(`GET ${path} was answered by ${actual ?? 'nobody named'} instead of ${servedBy} (X-Served-By)`);
  }
}

/** How many requests a row run by count asks for, and its cap; undefined for rows run by duration. */
export function countPlan(scenario: Scenario, flags: BenchFlags): { requested: number; capSec: number } | undefined {
  if (scenario.byCount === undefined) return undefined;
  const base = flags.cgiRequests ?? flags.connections;
  return { requested: Math.max(flags.connections, base * scenario.byCount.factor), capSec: flags.cgiMaxSec ?? flags.durationSec };
}

async function measure(scenario: Scenario, started: RunningScenario, options: RunBenchOptions): Promise<ScenarioResult> {
  const { flags, progress } = options;
  if (scenario.load !== undefined) return measureWs(scenario, started, options);
  progress.phase('checking one answer');
  await checkAnswer(started.url, started.servedBy, started.ca);
  progress.phase(flags.warmupSec > 0 ? `warming up ${flags.warmupSec} s` : 'starting load');
  const byCount = countPlan(scenario, flags);
  let sampler: ReturnType<typeof createProcessSampler> | undefined;
  let load: LoadSummary;
  let usage: SamplerSummary;
  try {
    load = await runLoad({
      request: {
        url: started.url, method: 'GET', headers: started.headers ?? {}, connections: flags.connections, pipelining: flags.pipelining, warmupSec: flags.warmupSec,
        ...(byCount === undefined ? { durationSec: flags.durationSec } : { durationSec: byCount.capSec, amount: byCount.requested }),
        ...(started.tlsResume === undefined ? {} : { tlsResume: started.tlsResume }),
      },
      cpuList: options.pinning.loadGenerator,
      onMeasuring: () => {
        sampler = createProcessSampler({ rootPids: started.pids });
        progress.phase(byCount === undefined ? 'measuring' : `measuring ${byCount.requested} requests (cap ${byCount.capSec} s)`);
      },
      onTick: (rate) => progress.tick(rate),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  } finally {
    // Sampled before the servers stop, so the last sample still sees the whole tree.
    usage = sampler?.stop() ?? createProcessSampler({ rootPids: started.pids }).stop();
  }
  const { seconds, capped, ...figures } = load;
  // A row with no answer has no figures: every ratio built on it would be n/a, so it fails the
  // run instead of passing as ok (a quick run on a busy machine once finished 0 CGI requests).
  if (figures.requests === 0) {
    throw new Error(`completed 0 requests in ${seconds} s${byCount === undefined ? '' : ` (asked for ${byCount.requested}, cap ${byCount.capSec} s)`}: the servers took longer than the run; try --cgi-max-sec or a less loaded machine`);
  }
  // A resumed-handshake row where too few handshakes resumed measured full ones: it fails, naming its figures.
  const verdict = figures.tlsResumption === undefined ? undefined : resumptionVerdict({ ...figures.tlsResumption, seconds });
  if (verdict?.ok === false) throw new Error(verdict.reason);
  return {
    name: scenario.name,
    description: verdict === undefined ? scenario.description : `${scenario.description} (${verdict.note})`,
    status: 'ok',
    url: started.url,
    ...figures,
    ...(byCount === undefined ? {} : { byCount: { ...byCount, seconds, capped } }),
    peakRssMiB: Number(usage.peakRssMiB.toFixed(1)),
    cpuSeconds: usage.cpuSeconds,
    peakProcesses: usage.peakProcesses,
  };
}

async function runScenario(scenario: Scenario, ctx: ScenarioContext, options: RunBenchOptions): Promise<ScenarioResult> {
  const skip = scenario.skipReason(ctx);
  if (skip !== null) return unfinished(scenario, 'skipped', skip);
  options.progress.phase('starting servers');
  let started: RunningScenario;
  try {
    started = await scenario.start(ctx);
  } catch (error) {
    return unfinished(scenario, 'failed', `servers did not start: ${firstLine(error)}`);
  }
  const stopOnAbort = (): void => void started.close();
  options.signal?.addEventListener('abort', stopOnAbort, { once: true });
  try {
    return await measure(scenario, started, options);
  } catch (error) {
    return unfinished(scenario, 'failed', firstLine(error));
  } finally {
    options.signal?.removeEventListener('abort', stopOnAbort);
    options.progress.phase('stopping servers');
    await started.close();
  }
}

function throwIfInterrupted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new Error('benchmark interrupted');
}

export async function runBench(options: RunBenchOptions): Promise<BenchResult> {
  const now = options.now ?? (() => new Date());
  const startedAt = now().toISOString();
  const workDir = mkdtempSync(join(tmpdir(), 'twotier-bench-'));
  const webRoot = join(workDir, 'www');
  const rounds = options.flags.rounds ?? 1;
  const byRound: ScenarioResult[][] = [];
  try {
    makeWebRoot(workDir, webRoot);
    const ctx: ScenarioContext = {
      root: options.root,
      workDir,
      webRoot,
      serverCpus: options.pinning.servers,
      nginxPath: options.nginxPath,
      serverEnv: options.serverEnv,
      concurrency: options.flags.connections * options.flags.pipelining,
      ...(options.flags.wsIdleConnections === undefined ? {} : { wsIdleConnections: options.flags.wsIdleConnections }),
    };
    const total = options.scenarios.length * rounds;
    // Round after round (A B C A B C …), not A A A B B B: a pair of rows compared in a ratio runs
    // minutes apart at most, and a slow spell of a shared machine hits every scenario in turn.
    for (let round = 0; round < rounds; round += 1) {
      const rows: ScenarioResult[] = [];
      for (const [index, scenario] of options.scenarios.entries()) {
        throwIfInterrupted(options.signal);
        options.progress.scenario(round * options.scenarios.length + index + 1, total, rounds === 1 ? scenario.name : `${scenario.name} (round ${round + 1} of ${rounds})`);
        const row = await runScenario(scenario, ctx, options);
        throwIfInterrupted(options.signal);
        options.progress.done(row);
        rows.push(row);
      }
      byRound.push(rows);
    }
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
  return {
    startedAt,
    finishedAt: now().toISOString(),
    machine: options.machine,
    commit: options.commit,
    flags: options.flags,
    pinning: options.pinning,
    scenarios: rounds === 1 ? (byRound[0] ?? []) : medianRows(byRound),
    ...(rounds === 1 ? {} : { rounds: byRound }),
  };
}

/** What a round is ranked by: req/s, or the bytes per idle connection of an idle WebSocket row. */
function rowFigure(row: ScenarioResult): number {
  return row.idle === undefined ? row.rps : row.idle.kibPerConnection;
}

/**
 * Each scenario's median round, a row that was really measured (the lower middle one for an even
 * count), its description naming every round's figure. A scenario that never finished keeps its
 * last round's skipped or failed row.
 */
export function medianRows(byRound: readonly (readonly ScenarioResult[])[]): ScenarioResult[] {
  const first = byRound[0] ?? [];
  return first.map((_, index) => {
    const all = byRound.map((rows) => rows[index]).filter((row): row is ScenarioResult => row !== undefined);
    const ok = all.filter((row) => row.status === 'ok');
    if (ok.length === 0) return all[all.length - 1] as ScenarioResult;
    const sorted = [...ok].sort((a, b) => rowFigure(a) - rowFigure(b));
    const middle = sorted[Math.floor((sorted.length - 1) / 2)] as ScenarioResult;
    const unit = middle.idle === undefined ? 'req/s' : 'KiB per connection';
    const figures = all.map((row) => (row.status === 'ok' ? String(Number(rowFigure(row).toFixed(2))) : row.status)).join(', ');
    return { ...middle, description: `${middle.description} [median of ${all.length} rounds by ${unit}: ${figures}]` };
  });
}
