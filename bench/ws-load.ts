/**
 * The WebSocket load generator's side in the bench (issue 16): the messages to and from
 * ws-load-child.ts, the figures computed from what it reports, and the runner that starts it
 * pinned like autocannon's child (load-runner.ts), so its CPU is never counted as the servers'.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { distPath, pinnedCommand } from './environment.js';
import type { LatencyMs } from './result-schema.js';

/** What every echo round trip sends; the upstream sends it back. The app's /api/live answers the same ping with a pong. */
export const WS_PING = '{"type":"ping"}';

export type WsLoadRequest =
  | { readonly mode: 'echo'; readonly url: string; readonly connections: number; readonly warmupSec: number; readonly durationSec: number }
  /** Opens `connections` and holds them, `concurrency` handshakes in flight at most, until told to close. */
  | { readonly mode: 'idle'; readonly url: string; readonly connections: number; readonly concurrency: number };

export interface WsEchoSummary {
  readonly roundTrips: number;
  readonly seconds: number;
  readonly latencyMs: LatencyMs;
  /** Connection errors and unexpected closes while measuring. */
  readonly errors: number;
  /** Payload bytes received per second. */
  readonly bytesPerSec: number;
}

export type WsChildMessage =
  | { readonly type: 'measuring' }
  | { readonly type: 'tick'; readonly counter: number }
  | { readonly type: 'open'; readonly held: number; readonly failed: number; readonly firstError: string | null }
  | { readonly type: 'done'; readonly summary?: WsEchoSummary }
  | { readonly type: 'error'; readonly message: string };

/** Nearest-rank percentiles (p50/p90/p99) and the max of round-trip times in ms; zeros when empty. Sorts `samples` in place. */
export function latencyPercentiles(samples: number[] | Float64Array): LatencyMs {
  if (samples.length === 0) return { p50: 0, p90: 0, p99: 0, max: 0 };
  const sorted = samples instanceof Float64Array ? samples.sort() : Float64Array.from(samples).sort();
  const rank = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
  const round = (value: number): number => Number(value.toFixed(3));
  return { p50: round(rank(50)), p90: round(rank(90)), p99: round(rank(99)), max: round(sorted[sorted.length - 1] as number) };
}

/**
 * RSS growth per held connection in KiB, from the front server's RSS before the connections
 * opened and after they all did; null when none was held. Growth below zero (a collection
 * between the samples) is reported as it is, not hidden.
 */
export function kibPerConnection(baselineRssKiB: number, loadedRssKiB: number, held: number): number | null {
  if (held <= 0) return null;
  return Number(((loadedRssKiB - baselineRssKiB) / held).toFixed(3));
}

/**
 * Descriptors a proxy needs to hold `connections` upgraded connections: one to the client and
 * one to the upstream each, plus a margin for listeners, logs and the process's own files.
 */
export function descriptorsNeeded(connections: number): number {
  return 2 * connections + 256;
}

/** The soft RLIMIT_NOFILE of this process (node raises it to the hard limit at start, and children inherit it). */
export function openFileLimit(limitsText?: string): number | null {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return null;
    }
  }
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(text);
  if (match === null) return null;
  return match[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(match[1]);
}

export interface WsChild {
  /** Resolves with the echo summary (echo mode) or undefined (idle mode) when the child is done. */
  readonly done: Promise<WsEchoSummary | undefined>;
  /** Idle mode: resolves once every handshake succeeded or failed. */
  readonly opened: Promise<{ held: number; failed: number; firstError: string | null }>;
  /** Idle mode: close the held connections and exit. */
  release(): void;
}

export interface WsChildOptions {
  readonly request: WsLoadRequest;
  readonly cpuList: string | null;
  /** Whole run bound, after which the child is killed and the promises reject. */
  readonly limitMs: number;
  readonly onMeasuring?: () => void;
  readonly onTick?: (roundTripsPerSecond: number) => void;
  readonly signal?: AbortSignal;
}

export function startWsLoad(options: WsChildOptions): WsChild {
  const { command, args } = pinnedCommand(options.cpuList, process.execPath, [distPath('bench', 'ws-load-child.js'), JSON.stringify(options.request)]);
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-2000);
  });
  let failure: string | undefined;
  let summary: WsEchoSummary | undefined;
  let finished = false;
  let resolveOpened: (value: { held: number; failed: number; firstError: string | null }) => void = () => undefined;
  let rejectOpened: (error: Error) => void = () => undefined;
  const opened = new Promise<{ held: number; failed: number; firstError: string | null }>((resolve, reject) => {
    resolveOpened = resolve;
    rejectOpened = reject;
  });
  // Unobserved in echo mode: the rejection must not surface as unhandled.
  opened.catch(() => undefined);
  const kill = (why: string): void => {
    failure ??= why;
    child.kill('SIGKILL');
  };
  const timer = setTimeout(() => kill(`WebSocket load generator still running after ${options.limitMs} ms`), options.limitMs);
  const onAbort = (): void => kill('interrupted');
  if (options.signal?.aborted === true) onAbort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  child.on('message', (message: WsChildMessage) => {
    if (message.type === 'measuring') options.onMeasuring?.();
    else if (message.type === 'tick') options.onTick?.(message.counter);
    else if (message.type === 'open') resolveOpened({ held: message.held, failed: message.failed, firstError: message.firstError });
    else if (message.type === 'done') {
      finished = true;
      summary = message.summary;
    } else failure ??= message.message;
  });
  child.once('error', (error) => {
    failure ??= `cannot start the WebSocket load generator: ${error.message}`;
  });
  const done = new Promise<WsEchoSummary | undefined>((resolve, reject) => {
    child.once('close', (code) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      const error = new Error(`${failure ?? `WebSocket load generator exited with code ${code}`}${stderr === '' ? '' : `: ${stderr.trim()}`}`);
      rejectOpened(error);
      if (finished && failure === undefined) resolve(summary);
      else reject(error);
    });
  });
  return {
    done,
    opened,
    release: () => {
      if (child.connected) child.send({ type: 'close' });
    },
  };
}
