/** Runs the load generator (load-child.js) in its own, optionally pinned, process. */
import { spawn } from 'node:child_process';
import { distPath, pinnedCommand } from './environment.js';
import type { LoadChildMessage, LoadRequest, LoadSummary } from './load-protocol.js';

export interface LoadRunOptions {
  readonly request: LoadRequest;
  readonly cpuList: string | null;
  /** Called when warm-up is over and the measured run starts. */
  readonly onMeasuring?: () => void;
  /** Called once a second with the requests completed in that second. */
  readonly onTick?: (requestsPerSecond: number) => void;
  /** Path of the compiled child; tests may point elsewhere. */
  readonly childScript?: string;
  /** Aborting kills the load generator (Ctrl-C of the bench). */
  readonly signal?: AbortSignal;
}

export function runLoad(options: LoadRunOptions): Promise<LoadSummary> {
  const { request } = options;
  const script = options.childScript ?? distPath('bench', 'load-child.js');
  const { command, args } = pinnedCommand(options.cpuList, process.execPath, [script, JSON.stringify(request)]);
  // 'ipc' survives taskset's exec: the channel is an inherited file descriptor (NODE_CHANNEL_FD).
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-2000);
  });
  return new Promise<LoadSummary>((resolve, reject) => {
    let summary: LoadSummary | undefined;
    let failure: string | undefined;
    // The whole run is bounded: warm-up + measurement + a generous margin for start and drain.
    const limitMs = (request.warmupSec + request.durationSec) * 1000 + 30_000;
    const timer = setTimeout(() => {
      failure = `load generator still running after ${limitMs} ms`;
      child.kill('SIGKILL');
    }, limitMs);
    const onAbort = (): void => {
      failure = 'interrupted';
      child.kill('SIGKILL');
    };
    if (options.signal?.aborted === true) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('message', (message: LoadChildMessage) => {
      if (message.type === 'measuring') options.onMeasuring?.();
      else if (message.type === 'tick') options.onTick?.(message.counter);
      else if (message.type === 'done') summary = message.summary;
      else failure = message.message;
    });
    child.once('error', (error) => {
      failure = `cannot start the load generator: ${error.message}`;
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (summary !== undefined) resolve(summary);
      else reject(new Error(`${failure ?? `load generator exited with code ${code}`}${stderr === '' ? '' : `: ${stderr.trim()}`}`));
    });
  });
}
