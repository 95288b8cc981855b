/**
 * WEB_WORKERS=N: the web tier itself as N processes sharing one listening socket (node:cluster,
 * round-robin in the primary), like nginx's worker_processes. The primary serves nothing: it
 * forks, replaces a worker that dies unexpectedly (with a growing back-off, so a worker that
 * cannot start does not spin), forwards SIGHUP (config reload) and SIGTERM/SIGINT (graceful
 * stop) to every worker, and is done when the last worker has exited.
 */
import type { Cluster, Worker } from 'node:cluster';
import { isListenFailed, ListenError } from '../common/listen-error.js';
import type { Logger } from '../common/logger.js';

/** What a worker sends its primary to have every worker reload (POST /-/reload reaches one worker). */
export const RELOAD_ALL_MESSAGE = Object.freeze({ twotier: 'reload-all' });

function isReloadAll(message: unknown): boolean {
  return typeof message === 'object' && message !== null && (message as { twotier?: unknown }).twotier === RELOAD_ALL_MESSAGE.twotier;
}

export interface WebClusterOptions {
  readonly cluster: Cluster;
  readonly workers: number;
  readonly logger: Logger;
  /** Back-off before replacing a dead worker; doubles per consecutive early death, capped at 10 s. */
  readonly restartDelayMs?: number;
  /** A worker alive this long resets the back-off. */
  readonly stableAfterMs?: number;
}

export interface WebCluster {
  /** Forks the workers; resolves when every one has said it is listening. */
  start(): Promise<void>;
  /** Asks every worker to re-read its config (SIGHUP). */
  reload(): void;
  /** SIGTERM to every worker; resolves when all have exited (they drain on their own bound). */
  close(signal?: NodeJS.Signals): Promise<void>;
  pids(): number[];
}

export function createWebCluster(options: WebClusterOptions): WebCluster {
  const { cluster, logger } = options;
  const baseDelay = options.restartDelayMs ?? 500;
  const stableAfter = options.stableAfterMs ?? 10_000;
  const live = new Map<number, { worker: Worker; startedAt: number }>();
  let stopping = false;
  let failures = 0;
  let allExited: (() => void) | undefined;

  function fork(): Promise<void> {
    const worker = cluster.fork();
    live.set(worker.id, { worker, startedAt: Date.now() });
    worker.on('exit', (code, signal) => {
      const entry = live.get(worker.id);
      live.delete(worker.id);
      if (stopping) {
        if (live.size === 0) allExited?.();
        return;
      }
      const lived = Date.now() - (entry?.startedAt ?? Date.now());
      failures = lived >= stableAfter ? 0 : failures + 1;
      const delay = Math.min(10_000, baseDelay * 2 ** Math.max(0, failures - 1));
      logger.warn({ workerPid: worker.process.pid, code, signal, restartInMs: delay }, 'web worker exited; replacing it');
      setTimeout(() => {
        if (!stopping) fork().catch((error: unknown) => logger.error({ err: error }, 'replacement web worker failed to start'));
      }, delay).unref();
    });
    return new Promise((resolve, reject) => {
      const onExitBeforeListening = (code: number | null): void => {
        const fail = (): void => reject(new Error(`web worker exited with code ${String(code)} before listening`));
        // Its last message (a listen failure) is read before the channel's end: wait for that.
        if (worker.isConnected()) worker.once('disconnect', fail);
        else fail();
      };
      // Only a death before 'listening' fails the start; a later one is the replacement path above.
      worker.once('listening', () => {
        worker.off('exit', onExitBeforeListening);
        resolve();
      });
      worker.once('exit', onExitBeforeListening);
    });
  }

  function reload(): void {
    for (const { worker } of live.values()) worker.process.kill('SIGHUP');
  }
  let onListenFailed: ((error: ListenError) => void) | undefined;
  cluster.on('message', (_worker: Worker, message: unknown) => {
    if (isListenFailed(message)) onListenFailed?.(new ListenError(message.errno, message.host, message.port));
    if (isReloadAll(message) && !stopping) {
      logger.info({ workers: [...live.values()].map(({ worker }) => worker.process.pid) }, 'config reload requested by a worker: SIGHUP to every worker');
      reload();
    }
  });

  return {
    async start() {
      // A worker that cannot bind fails the start at once (no restart frees the port).
      const listenFailed = new Promise<never>((_resolve, reject) => (onListenFailed = reject));
      try {
        await Promise.race([Promise.all(Array.from({ length: options.workers }, () => fork())), listenFailed]);
      } finally {
        onListenFailed = undefined;
      }
    },
    reload,
    close(signal: NodeJS.Signals = 'SIGTERM') {
      stopping = true;
      if (live.size === 0) return Promise.resolve();
      const done = new Promise<void>((resolve) => (allExited = resolve));
      for (const { worker } of live.values()) worker.process.kill(signal);
      return done;
    },
    pids: () => [...live.values()].map(({ worker }) => worker.process.pid ?? 0),
  };
}
