/**
 * Starts the real, built app tier (`node dist/app-tier/main.js`) as a child process on port 0
 * with its own SQLite file in a temp dir, and reads its JSON log lines. With node:cluster all
 * workers share the primary's port, so the port comes from the primary's "listening" line.
 * Run `npm run build` (or `npx tsc -p tsconfig.build.json`) first; `npm test` does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';

export const APP_MAIN = fileURLToPath(new URL('../../dist/app-tier/main.js', import.meta.url));

export type LogLine = Record<string, unknown> & { msg?: string; pid?: number };

export interface AppTierProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly url: string;
  /** The worker pids the primary reported when it started listening. */
  readonly workerPids: number[];
  /** Every JSON line written to stdout so far. */
  readonly lines: LogLine[];
  readonly dataDir: string;
  stderr(): string;
  /** Resolves with the first line (already seen or future) that `match` accepts. */
  waitForLine(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves when the primary exits. */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartOptions {
  readonly env?: Record<string, string>;
  readonly args?: readonly string[];
  /** Reuse a data folder (to restart on the same database); a new temp dir otherwise. */
  readonly dataDir?: string;
  readonly workers?: number;
  /** How long to wait for the primary's "listening" line (default 20 s; a file starting several tiers on a loaded box needs more). */
  readonly readyTimeoutMs?: number;
}

/** A clean env: nothing from the caller's APP_* / DATABASE_URL leaks into the child. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(APP_|DATABASE_URL$|LOG_LEVEL$|LOG_PRETTY$|NODE_OPTIONS$|TAP)/.test(name)) env[name] = value;
  }
  return { ...env, ...extra };
}

export function tempDataDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-app-e2e-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs main.js to completion (for start-up failures): exit code and output. */
export async function runAppTier(env: Record<string, string>, args: readonly string[] = [], cwd?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [APP_MAIN, ...args], { env: childEnv({ APP_PORT: '0', APP_WORKERS: '1', LOG_LEVEL: 'warn', ...env }), cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

export async function startAppTier(t: Test, options: StartOptions = {}): Promise<AppTierProcess> {
  if (!existsSync(APP_MAIN)) throw new Error(`${APP_MAIN} is missing: run \`npx tsc -p tsconfig.build.json\` first`);
  const dataDir = options.dataDir ?? tempDataDir(t);
  const env = childEnv({
    APP_HOST: '127.0.0.1',
    APP_PORT: '0',
    APP_WORKERS: String(options.workers ?? 2),
    DATABASE_URL: `sqlite:${join(dataDir, 'twotier.db')}`,
    LOG_LEVEL: 'info',
    APP_SHUTDOWN_TIMEOUT_MS: '3000',
    ...options.env,
  });
  const child = spawn(process.execPath, [APP_MAIN, ...(options.args ?? [])], { env, cwd: dataDir, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: LogLine[] = [];
  const waiters = new Set<{ match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();
  let stderr = '';
  let buffered = '';
  const exit = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));

  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const text of parts) {
      if (text.trim() === '') continue;
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        line = { msg: text };
      }
      lines.push(line);
      for (const waiter of waiters) {
        if (waiter.match(line)) {
          waiters.delete(waiter);
          waiter.resolve(line);
        }
      }
    }
  });

  // Kill whatever is left (the primary, and workers by the pids they logged) even if a test failed.
  t.teardown(async () => {
    const pids = new Set(lines.map((line) => line.pid).filter((pid): pid is number => typeof pid === 'number'));
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exit;
    }
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone: the usual case.
      }
    }
  });

  function waitForLine(match: (line: LogLine) => boolean, timeoutMs = 20_000): Promise<LogLine> {
    const seen = lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (line: LogLine) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`no matching log line within ${timeoutMs} ms; stderr: ${stderr}`));
      }, timeoutMs);
      waiters.add(waiter);
      void exit.then(({ code, signal }) => {
        if (!waiters.has(waiter)) return;
        waiters.delete(waiter);
        clearTimeout(timer);
        reject(new Error(`app tier exited (${code ?? signal}) before the expected log line; stderr: ${stderr}`));
      });
    });
  }

  const listening = await waitForLine((line) => line.msg === 'listening' && line['role'] === 'primary', options.readyTimeoutMs);
  const port = listening['port'] as number;
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    workerPids: listening['workers'] as number[],
    lines,
    dataDir,
    stderr: () => stderr,
    waitForLine,
    exited: () => exit,
  };
}

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  json<T = Record<string, unknown>>(): T;
}

/** One request on a fresh connection (agent: false), so cluster round-robin sees each one. */
export function send(url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: <T>() => JSON.parse(text) as T });
      });
    });
    req.setTimeout(15_000, () => req.destroy(new Error(`request to ${url} timed out`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** One sample as parse-prometheus-text-format (prom2json's shape) gives it. */
export interface MetricSample {
  readonly labels?: Record<string, string>;
  readonly value?: string;
  readonly buckets?: Record<string, string>;
  readonly count?: string;
  readonly sum?: string;
}

export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  readonly metrics: readonly MetricSample[];
}

// A real Prometheus text parser (a port of the Python client's), not a regex of our own.
const parsePrometheusText = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => MetricFamily[];

/** Parses a scrape into families by name. */
export function parseMetrics(text: string): Map<string, MetricFamily> {
  return new Map(parsePrometheusText(text).map((family) => [family.name, family]));
}

/** The sum of a counter's or gauge's samples whose labels include `labels`. */
export function sampleSum(families: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}): number {
  const family = families.get(name);
  if (family === undefined) return 0;
  let total = 0;
  for (const sample of family.metrics) {
    if (Object.entries(labels).every(([key, value]) => sample.labels?.[key] === value)) total += Number(sample.value ?? sample.count ?? 0);
  }
  return total;
}
