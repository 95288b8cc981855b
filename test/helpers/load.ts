/**
 * Fault-test plumbing: both real tiers as child processes (built JS), a bounded autocannon load
 * (a fixed request count, never a duration target) and the process facts the tests report (RSS).
 * Nothing here asserts: the tests decide what a result must be.
 */
import { readFileSync } from 'node:fs';
import { request, type Agent } from 'node:http';
import { startAppTier, type AppTierProcess } from './app-tier.js';
import { autocannon } from './autocannon.js';
import { spawnEntry, WEB_MAIN, type SpawnedEntry, type Teardown } from './web-tier.js';
import type { Test } from 'tap';

export interface LoadResult {
  /** Responses received, any status. */
  readonly responses: number;
  /** Connection errors and timeouts (no response at all). */
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  /** Count per status code. */
  readonly statuses: Record<string, number>;
}

export interface LoadOptions {
  readonly url: string;
  /** Requests in all; the run ends when they are answered or failed. */
  readonly amount: number;
  readonly connections?: number;
  readonly method?: string;
  readonly headers?: Record<string, string>;
  /** A fixed body, or one per request (`index` counts from 0 across all connections). */
  readonly body?: string | ((index: number) => string);
  /** Every response's status and body (used to learn which POSTs were acknowledged). */
  readonly onResponse?: (status: number, body: string) => void;
  /** Seconds without an answer before autocannon counts a timeout. */
  readonly timeoutSeconds?: number;
  /** Called once `after` responses are in (to inject a fault mid-load). */
  readonly midway?: { readonly after: number; readonly run: () => void };
}

interface RequestSpec {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (req: RequestSpec) => RequestSpec;
  onResponse?: (status: number, body: string) => void;
}
/** Runs `amount` requests over `connections` keep-alive connections; bounded by 60 s at worst. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  let index = 0;
  const spec: RequestSpec = { method: options.method ?? 'GET', headers: options.headers ?? {} };
  if (typeof options.body === 'string') spec.body = options.body;
  const bodyFor = options.body;
  if (typeof bodyFor === 'function') {
    spec.setupRequest = (req) => ({ ...req, body: bodyFor(index++) });
  }
  if (options.onResponse !== undefined) spec.onResponse = options.onResponse;
  const instance = autocannon({
    url: options.url,
    connections: options.connections ?? 8,
    amount: options.amount,
    // A hard ceiling only: the run normally ends at `amount`.
    duration: 60,
    timeout: options.timeoutSeconds ?? 10,
    requests: [spec],
  });
  if (options.midway !== undefined) {
    const { after, run } = options.midway;
    let seen = 0;
    instance.on('response', () => {
      seen += 1;
      if (seen === after) run();
    });
  }
  const result = await instance;
  const statuses: Record<string, number> = {};
  let responses = 0;
  for (const [status, { count }] of Object.entries(result.statusCodeStats)) {
    statuses[status] = Number(count);
    responses += Number(count);
  }
  return { responses, errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx, statuses };
}

/** Resident set size of a live process, in bytes (from /proc; Linux only, like the tests). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (match === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

export const MiB = 1024 * 1024;

export interface WebTierProcess {
  readonly entry: SpawnedEntry;
  readonly port: number;
  readonly url: string;
  readonly pid: number;
}

/** The built web tier on 127.0.0.1:0 (one process unless WEB_WORKERS says otherwise). */
export async function startWebTier(t: Teardown, env: Record<string, string>): Promise<WebTierProcess> {
  const entry = spawnEntry(t, WEB_MAIN, { WEB_HOST: '127.0.0.1', WEB_PORT: '0', LOG_LEVEL: 'info', ...env });
  const listening = await entry.waitForLine((line) => line['msg'] === 'listening');
  const port = listening['port'] as number;
  return { entry, port, url: `http://127.0.0.1:${port}`, pid: entry.child.pid ?? -1 };
}

export interface Stack {
  readonly app: AppTierProcess;
  readonly web: WebTierProcess;
}

/** One clustered app tier behind one web tier, as `npm start` would run them on one box. */
export async function startStack(t: Test, options: { appWorkers?: number; appEnv?: Record<string, string>; webEnv?: Record<string, string>; dataDir?: string } = {}): Promise<Stack> {
  const app = await startAppTier(t, {
    workers: options.appWorkers ?? 2,
    env: { ...options.appEnv },
    ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
  });
  const web = await startWebTier(t, { APP_UPSTREAMS: app.url, ...options.webEnv });
  return { app, web };
}

export interface Answer {
  readonly status: number;
  readonly body: string;
  readonly headers: Record<string, string | string[] | undefined>;
}

/** One request; a fresh connection unless an agent is given. Rejects on a socket error. */
export function fetchOnce(url: string, init: { method?: string; headers?: Record<string, string>; body?: string; agent?: Agent; timeoutMs?: number } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers: init.headers ?? {}, agent: init.agent ?? false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.setTimeout(init.timeoutMs ?? 15_000, () => req.destroy(new Error(`request to ${url} timed out`)));
    req.on('error', reject);
    req.end(init.body);
  });
}

/** A compact one-line summary for t.comment. */
export function describeLoad(result: LoadResult): string {
  const statuses = Object.entries(result.statuses).map(([status, count]) => `${status}×${count}`).join(' ');
  return `${result.responses} responses (${statuses || 'none'}), ${result.errors} errors, ${result.timeouts} timeouts`;
}
