/**
 * Entry point of `npm run bench`: reads flags and BENCH_* env, runs the scenarios, writes
 * bench/results/<timestamp>.{json,md,svg} and latest.*, exits non-zero when a row failed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { choosePinning, cpuCount, currentCommit, describeMachine, findExecutable, repoRoot } from './environment.js';
import { BenchFlagError, parseBenchArgs, USAGE } from './flags.js';
import { createProgress } from './progress.js';
import { baseEnv } from './launcher.js';
import { runBench } from './run.js';
import { buildScenarios, selectScenarios } from './scenarios.js';
import { resultJson, writeResults } from './results-writer.js';
import { renderTerminalSummary } from './report-markdown.js';
import type { BenchFlags } from './result-schema.js';

async function main(): Promise<number> {
  const options = parseBenchArgs(process.argv.slice(2), process.env, cpuCount());
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const root = repoRoot();
  let scenarios: ReturnType<typeof selectScenarios>;
  try {
    scenarios = selectScenarios(buildScenarios(options.maxWorkers), options.scenarios);
  } catch (error) {
    throw new BenchFlagError((error as Error).message);
  }
  const flags: BenchFlags = {
    quick: options.quick, durationSec: options.durationSec, warmupSec: options.warmupSec, connections: options.connections,
    ...(options.cgiRequests === undefined ? {} : { cgiRequests: options.cgiRequests }),
    ...(options.cgiMaxSec === undefined ? {} : { cgiMaxSec: options.cgiMaxSec }),
    pipelining: options.pipelining, maxWorkers: options.maxWorkers, wsIdleConnections: options.wsIdleConnections, rounds: options.rounds ?? 1, scenarios: scenarios.map((scenario) => scenario.name), pin: options.pin,
  };
  const pinning = choosePinning(options.pin, cpuCount(), findExecutable('taskset', process.env['PATH']));
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (): void => {
    interrupts += 1;
    // First Ctrl-C: stop the current servers cleanly; a second one gives up at once.
    if (interrupts > 1) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const result = await runBench({
    flags,
    scenarios,
    root,
    pinning,
    nginxPath: findExecutable('nginx', process.env['PATH']),
    serverEnv: baseEnv(process.env),
    machine: describeMachine(),
    commit: currentCommit(root),
    progress: createProgress(process.stderr),
    signal: controller.signal,
  });
  const written = writeResults(result, resolve(root, options.resultsDir));
  if (options.jsonFile !== null) {
    mkdirSync(dirname(resolve(options.jsonFile)), { recursive: true });
    writeFileSync(resolve(options.jsonFile), resultJson(result));
  }
  process.stdout.write(`\n${renderTerminalSummary(result)}`);
  process.stderr.write(`results: ${written.run.json}\nreport:  ${written.latest.markdown}\n`);
  const failed = result.scenarios.filter((row) => row.status === 'failed');
  for (const row of failed) process.stderr.write(`failed: ${row.name}: ${row.reason ?? ''}\n`);
  return failed.length > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const interrupted = error instanceof Error && error.message === 'benchmark interrupted';
    // Flag mistakes and Ctrl-C are the user's: one line, no stack. Anything else keeps its stack.
    if (interrupted) process.stderr.write('\ninterrupted: servers stopped, no results written\n');
    else if (error instanceof BenchFlagError) process.stderr.write(`${error.message}\n`);
    else process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = interrupted ? 130 : 1;
  },
);
