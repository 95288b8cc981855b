/**
 * The shape of a benchmark run as written to `bench/results/*.json`. One zod schema is the
 * source of the TypeScript types, of `bench:report`'s check of an old file, and of the test's
 * check of a fresh one, so the three cannot drift apart.
 */
import { z } from 'zod';

export const latencySchema = z.object({
  p50: z.number().nonnegative(),
  p90: z.number().nonnegative(),
  p99: z.number().nonnegative(),
  max: z.number().nonnegative(),
});

export const scenarioResultSchema = z.object({
  name: z.string().min(1),
  /** What the row measures, in one line, for the report. */
  description: z.string(),
  /** 'ok' rows carry numbers; 'skipped' (nginx absent) and 'failed' rows carry a reason. */
  status: z.enum(['ok', 'skipped', 'failed']),
  reason: z.string().optional(),
  url: z.string().optional(),
  rps: z.number().nonnegative(),
  latencyMs: latencySchema,
  /** Socket errors plus timeouts as autocannon counts them. */
  errors: z.number().int().nonnegative(),
  non2xx: z.number().int().nonnegative(),
  bytesPerSec: z.number().nonnegative(),
  /** Highest sum of VmRSS over every process the scenario started, sampled while it ran. */
  peakRssMiB: z.number().nonnegative(),
  /** User + system CPU time of those processes (reaped children included) while measured. */
  cpuSeconds: z.number().nonnegative(),
  /** Processes alive at the peak sample (for CGI: the server plus its live children). */
  peakProcesses: z.number().int().nonnegative(),
  requests: z.number().int().nonnegative(),
  /**
   * Rows run by request count (the CGI rows): how many were asked for, the time cap, how long
   * the run took and whether the cap ended it first. Absent on rows run for a duration.
   */
  byCount: z.object({
    requested: z.number().int().positive(),
    capSec: z.number().positive(),
    seconds: z.number().nonnegative(),
    capped: z.boolean(),
  }).optional(),
  /**
   * Resumed-handshake rows (bench/tls-resume-load.ts, issue 15): connections measured, how many
   * resumed a session, and the load generator's CPU share (near 1: the generator was the limit).
   */
  tlsResumption: z.object({
    connections: z.number().int().nonnegative(),
    resumed: z.number().int().nonnegative(),
    clientCpuShare: z.number().nonnegative(),
  }).optional(),
  /**
   * Idle WebSocket rows (issue 16, bench/ws-rows.ts): connections asked for and held open through
   * the front server, its RSS before and after they opened, and the growth per connection.
   */
  idle: z.object({
    requested: z.number().int().positive(),
    held: z.number().int().nonnegative(),
    failed: z.number().int().nonnegative(),
    baselineRssKiB: z.number().nonnegative(),
    loadedRssKiB: z.number().nonnegative(),
    kibPerConnection: z.number(),
  }).optional(),
});

export const pinningSchema = z.object({
  /** taskset CPU lists, e.g. "0" and "1"; null when taskset is absent or pinning is off. */
  servers: z.string().nullable(),
  loadGenerator: z.string().nullable(),
  tool: z.string().nullable(),
});

export const benchFlagsSchema = z.object({
  quick: z.boolean(),
  durationSec: z.number().positive(),
  warmupSec: z.number().nonnegative(),
  connections: z.number().int().positive(),
  pipelining: z.number().int().positive(),
  /** Requests per CGI row and its time cap (absent in runs from before rows ran by count). */
  cgiRequests: z.number().int().positive().optional(),
  cgiMaxSec: z.number().positive().optional(),
  maxWorkers: z.number().int().positive(),
  /** Connections the idle WebSocket rows open (issue 16); absent in runs from before them. */
  wsIdleConnections: z.number().int().positive().optional(),
  /** `--rounds`: how many times the scenarios ran in turn; absent in runs from before it (one round). */
  rounds: z.number().int().positive().optional(),
  scenarios: z.array(z.string()),
  pin: z.boolean(),
});

export const benchResultSchema = z.object({
  startedAt: z.string(),
  finishedAt: z.string(),
  machine: z.object({
    node: z.string(),
    platform: z.string(),
    cpuModel: z.string(),
    cpuCount: z.number().int().positive(),
    totalMemMiB: z.number().nonnegative(),
    /** 1-minute load average when the run started: other work on a shared machine shows here. */
    loadAverage1m: z.number().nonnegative(),
  }),
  commit: z.string(),
  flags: benchFlagsSchema,
  pinning: pinningSchema,
  scenarios: z.array(scenarioResultSchema),
  /**
   * With `--rounds N` (N > 1): every round's rows, in the order they ran (round 1's rows, then round
   * 2's …). `scenarios` then holds each scenario's median round (run.ts, medianRows).
   */
  rounds: z.array(z.array(scenarioResultSchema)).optional(),
  /**
   * The ratios between rows (ratios.ts), written with the run so a script reads them without
   * recomputing; the reports compute them again from `scenarios`. Absent in runs written before.
   */
  ratios: z.array(z.object({
    label: z.string(),
    numerator: z.string(),
    denominator: z.string(),
    metric: z.enum(['rps', 'peakRssMiB', 'cpuMsPerRequest', 'kibPerConnection']),
    value: z.number().nullable(),
    meaning: z.string(),
    target: z.number().optional(),
    /** The target is a ceiling (value ≤ target), not a floor: memory per connection. */
    atMost: z.boolean().optional(),
    /** With `--rounds`: the ratio in each round (null where a side failed); `value` is their median. */
    rounds: z.array(z.number().nullable()).optional(),
  })).optional(),
});

export type LatencyMs = z.infer<typeof latencySchema>;
export type ScenarioResult = z.infer<typeof scenarioResultSchema>;
export type BenchFlags = z.infer<typeof benchFlagsSchema>;
export type Pinning = z.infer<typeof pinningSchema>;
export type BenchResult = z.infer<typeof benchResultSchema>;
