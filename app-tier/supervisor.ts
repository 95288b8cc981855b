/**
 * The node:cluster primary. It forks the workers, replaces the ones that die (backing off
 * when they die right after starting, so a broken build or an unreachable database does not
 * become a fork bomb), and on shutdown asks every worker to drain and waits for them. It never
 * runs the application: with cluster's round-robin policy (the default on Linux) it only
 * accepts connections and hands them to the workers.
 */
import type { Cluster, Worker } from 'node:cluster';
import { isListenFailed, ListenError } from '../common/listen-error.js';
import type { Logger } from '../common/logger.js';
import type { AppConfig } from './config.js';

export interface ListeningAddress {
  readonly address: string;
  readonly port: number;
}

export interface SupervisorOptions {
  readonly config: Pick<AppConfig, 'workers' | 'shutdownTimeoutMs' | 'minUptimeMs' | 'restartDelayMs' | 'maxRestartDelayMs'>;
  readonly logger: Logger;
  /** node:cluster (main passes it; tests too, with `exec` pointing at a small worker script). */
  readonly cluster: Cluster;
  /** The worker script; the primary's own entry when absent. */
  readonly exec?: string | undefined;
  /** Node flags for the workers; the primary's own when absent. */
  readonly execArgv?: readonly string[] | undefined;
  /** Extra env for every worker. */
  readonly env?: Readonly<Record<string, string>> | undefined;
  /** Called each time a worker is replaced: after an unplanned exit ("crash") or by a reload. */
  readonly onRestart?: ((reason: 'crash' | 'reload') => void) | undefined;
}

export interface Supervisor {
  /**
   * Forks the workers; resolves once all of them listen, with the shared address. Rejects with
   * a ListenError as soon as a worker reports that it cannot bind, and with an Error when
   * workers keep dying before they listen (MAX_START_FAILURES in a row, whatever their uptime):
   * a start-up failure, not something to retry for ever.
   */
  start(): Promise<ListeningAddress>;
  /**
   * Rolling reload (SIGHUP): one worker at a time, a new one is forked and must listen before
   * the old one is asked to drain, so capacity never drops below workers − 0. A new worker that
   * dies before listening stops the reload and leaves the old ones serving.
   */
  reload(): Promise<void>;
  /** Pids of the workers alive now. */
  pids(): number[];
  /** SIGTERM to every worker (they drain), SIGKILL for any still there after the drain timeout. Idempotent. */
  close(): Promise<void>;
}

/** Consecutive failed starts (a death before listening, or within minUptimeMs) that make start() give up. */
const MAX_START_FAILURES = 5;

/** Room for a worker to close its store and exit after its own shutdownTimeoutMs. */
const EXIT_GRACE_MS = 2_000;

export function createSupervisor(options: SupervisorOptions): Supervisor {
  const { config, logger, cluster } = options;
  const forkedAt = new Map<Worker, number>();
  const listening = new Set<Worker>();
  const timers = new Set<NodeJS.Timeout>();
  let quickFailures = 0;
  const retiring = new Set<Worker>();
  /** Workers forked by a reload that have not listened yet: if they die, nothing replaces them. */
  const trial = new Set<Worker>();
  let stopping = false;
  let reloading: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  let address: ListeningAddress | undefined;
  let onAllListening: ((value: ListeningAddress) => void) | undefined;
  let onStartFailed: ((error: Error) => void) | undefined;
  let startFailed = false;

  if (options.exec !== undefined || options.execArgv !== undefined) {
    cluster.setupPrimary({
      ...(options.exec === undefined ? {} : { exec: options.exec }),
      ...(options.execArgv === undefined ? {} : { execArgv: [...options.execArgv] }),
    });
  }

  function fork(): Worker {
    const worker = cluster.fork(options.env);
    forkedAt.set(worker, Date.now());
    logger.debug({ workerPid: worker.process.pid }, 'worker forked');
    return worker;
  }

  function onListening(worker: Worker, where: { address: string | null; port: number }): void {
    if (!forkedAt.has(worker)) return;
    listening.add(worker);
    address ??= { address: where.address ?? '0.0.0.0', port: where.port };
    if (onAllListening !== undefined && listening.size >= config.workers) {
      onAllListening(address);
      onAllListening = undefined;
      onStartFailed = undefined;
    }
  }

  /** start() gives up: nothing is replaced any more; the caller closes what is left. */
  function failStart(error: Error): void {
    onStartFailed?.(error);
    onStartFailed = undefined;
    onAllListening = undefined;
    startFailed = true;
  }

  function onMessage(_worker: Worker, message: unknown): void {
    // Not checked against forkedAt: the worker's 'exit' may be handled before its last message.
    if (!isListenFailed(message) || onStartFailed === undefined) return;
    failStart(new ListenError(message.errno, message.host, message.port));
  }

  function onExit(worker: Worker, code: number | null, signal: string | null): void {
    const started = forkedAt.get(worker);
    if (started === undefined) return;
    const listened = listening.has(worker);
    forkedAt.delete(worker);
    listening.delete(worker);
    if (retiring.delete(worker) || trial.delete(worker) || stopping || startFailed) return;
    const uptimeMs = Date.now() - started;
    let delayMs = 0;
    // gunicorn's "Worker failed to boot": a worker that dies before it ever listened failed to
    // start, however long that took. Counting only deaths within minUptimeMs let a loaded box
    // (where node alone takes over a second to start) crash-loop for ever without back-off.
    if (!listened || uptimeMs < config.minUptimeMs) {
      quickFailures += 1;
      delayMs = Math.min(config.restartDelayMs * 2 ** (quickFailures - 1), config.maxRestartDelayMs);
    } else {
      quickFailures = 0;
    }
    if (quickFailures >= MAX_START_FAILURES && onStartFailed !== undefined) {
      failStart(new Error(`workers exit at start-up (${quickFailures} in a row, last exit code ${code ?? signal ?? 'unknown'}); see the worker log lines above`));
      return;
    }
    logger.warn({ workerPid: worker.process.pid, code, signal, uptimeMs, restartInMs: delayMs }, 'worker died; replacing it');
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (stopping) return;
      fork();
      options.onRestart?.('crash');
    }, delayMs);
    timers.add(timer);
  }

  function start(): Promise<ListeningAddress> {
    cluster.on('listening', onListening);
    cluster.on('exit', onExit);
    cluster.on('message', onMessage);
    const ready = new Promise<ListeningAddress>((resolve, reject) => {
      onAllListening = resolve;
      onStartFailed = reject;
    });
    for (let index = 0; index < config.workers; index += 1) fork();
    return ready;
  }

  function listened(worker: Worker): Promise<boolean> {
    return new Promise((resolve) => {
      const onListening = (): void => done(true);
      const onExited = (): void => done(false);
      function done(value: boolean): void {
        worker.off('listening', onListening);
        worker.off('exit', onExited);
        resolve(value);
      }
      worker.once('listening', onListening);
      worker.once('exit', onExited);
    });
  }

  async function replaceEach(): Promise<void> {
    for (const old of [...forkedAt.keys()]) {
      if (stopping || !forkedAt.has(old)) continue;
      const fresh = fork();
      trial.add(fresh);
      const ok = await listened(fresh);
      trial.delete(fresh);
      if (!ok) {
        throw new Error(`reload stopped: new worker ${fresh.process.pid} exited before listening; the old workers keep serving`);
      }
      if (stopping || !forkedAt.has(old)) continue;
      retiring.add(old);
      const exited = new Promise<void>((resolve) => old.once('exit', () => resolve()));
      old.process.kill('SIGTERM');
      options.onRestart?.('reload');
      await exited;
    }
  }

  function reload(): Promise<void> {
    if (stopping) return Promise.resolve();
    reloading ??= replaceEach().finally(() => {
      reloading = undefined;
    });
    return reloading;
  }

  function close(): Promise<void> {
    if (closing !== undefined) return closing;
    stopping = true;
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
    const alive = [...forkedAt.keys()];
    closing = new Promise<void>((resolve) => {
      const finish = (): void => {
        clearTimeout(killTimer);
        cluster.off('listening', onListening);
        cluster.off('exit', onExit);
        cluster.off('message', onMessage);
        cluster.off('exit', check);
        resolve();
      };
      const check = (): void => {
        if (forkedAt.size === 0) finish();
      };
      const killTimer = setTimeout(() => {
        for (const worker of forkedAt.keys()) {
          logger.warn({ workerPid: worker.process.pid }, 'worker did not exit after draining; killing it');
          worker.process.kill('SIGKILL');
        }
      }, config.shutdownTimeoutMs + EXIT_GRACE_MS);
      cluster.on('exit', check);
      // SIGTERM, not worker.kill(): cluster's kill first disconnects IPC, which closes the
      // listening handle but leaves keep-alive sockets to node; the worker's own SIGTERM
      // handler runs the full graceful close.
      for (const worker of alive) worker.process.kill('SIGTERM');
      check();
    });
    return closing;
  }

  return {
    start,
    reload,
    pids: () => [...forkedAt.keys()].map((worker) => worker.process.pid ?? 0),
    close,
  };
}
