/**
 * The node:cluster primary both tiers use. It forks the workers, replaces the ones that die
 * (backing off when they die right after starting, so a broken build or an unreachable database
 * does not become a fork bomb), signals them (the web tier's config reload is SIGHUP in place),
 * replaces them one at a time (the app tier's rolling reload, and a worker that asks to be
 * replaced: APP_MAX_REQUESTS), and on shutdown signals every worker and waits for them. It never runs the application: with cluster's round-robin policy
 * (the default on Linux) the primary only accepts connections and hands them to the workers.
 *
 * What differs between the tiers is passed in: how many start failures end start(), the
 * back-off, whether a worker that will not exit is killed, and what other messages mean.
 */
import type { Cluster, Worker } from 'node:cluster';
import { firstEvent } from './first-event.js';
import { isListenFailed, ListenError } from './listen-error.js';
import type { Logger } from './logger.js';

/**
 * What a worker sends its primary to be replaced (gunicorn's max_requests): the primary forks its
 * successor and asks it to drain only once that one listens, one replacement at a time.
 */
export interface ReplaceRequest {
  readonly twotier: 'replace-me';
  readonly reason: string;
}

export function replaceRequest(reason: string): ReplaceRequest {
  return { twotier: 'replace-me', reason };
}

export function isReplaceRequest(message: unknown): message is ReplaceRequest {
  return typeof message === 'object' && message !== null && (message as { twotier?: unknown }).twotier === 'replace-me';
}

export interface ListeningAddress {
  readonly address: string;
  readonly port: number;
}

export interface ClusterSupervisorOptions {
  /** node:cluster (the tier's main passes it; tests pass it too, or a fake with fork() and events). */
  readonly cluster: Cluster;
  readonly logger: Logger;
  readonly workers: number;
  /** First back-off before replacing a worker that failed to start; doubles per failure in a row. */
  readonly restartDelayMs: number;
  readonly maxRestartDelayMs: number;
  /** A worker that listened and lived this long resets the back-off; a faster death is a failed start. */
  readonly minUptimeMs: number;
  /** Failed starts in a row (deaths before listening, or within minUptimeMs) that end start() with an Error. */
  readonly maxStartFailures: number;
  /** After close()'s signal, SIGKILL for any worker still there this much later; absent: wait. */
  readonly killAfterMs?: number | undefined;
  /** The worker script; the primary's own entry when absent. */
  readonly exec?: string | undefined;
  /** Node flags for the workers; the primary's own when absent. */
  readonly execArgv?: readonly string[] | undefined;
  /** Extra env for every worker. */
  readonly env?: Readonly<Record<string, string>> | undefined;
  /** Called each time a worker is replaced: after an unplanned exit ("crash") or by a rolling reload. */
  readonly onRestart?: ((reason: 'crash' | 'reload') => void) | undefined;
  /** Any other message a worker sends while the supervisor runs (not once close() was called). */
  readonly onMessage?: ((worker: Worker, message: unknown) => void) | undefined;
}

export interface ClusterSupervisor {
  /**
   * Forks the workers; resolves once all of them listen, with the shared address. Rejects with
   * a ListenError as soon as a worker reports that it cannot bind, and with an Error when
   * workers keep dying before they listen (maxStartFailures in a row, whatever their uptime):
   * a start-up failure, not something to retry for ever.
   */
  start(): Promise<ListeningAddress>;
  /** Sends `signal` to every worker alive now. */
  signal(signal: NodeJS.Signals): void;
  /**
   * One worker at a time, a new one is forked and must listen before the old one is asked to
   * drain, so capacity never drops below workers − 0. A new worker that dies before listening
   * stops the reload and leaves the old ones serving. Concurrent calls share one reload.
   */
  rollingReload(): Promise<void>;
  /**
   * Replaces one worker as a reload does (its successor listens before it is asked to drain).
   * Replacements and reloads run one at a time, in the order asked: when every worker reaches
   * APP_MAX_REQUESTS together they are not all retired at once (node:cluster closes the shared
   * socket while no worker listens: lib/internal/cluster/round_robin_handle.js remove()).
   * A worker asked for twice is replaced once; one that is gone by its turn is skipped.
   * A worker that sends a ReplaceRequest gets this.
   */
  replaceWorker(worker: Worker, reason?: string): Promise<void>;
  /** Pids of the workers alive now, in the order they were forked. */
  pids(): number[];
  /** `signal` (SIGTERM: they drain) to every worker; resolves when all have exited. Idempotent. */
  close(signal?: NodeJS.Signals): Promise<void>;
}

export function createClusterSupervisor(options: ClusterSupervisorOptions): ClusterSupervisor {
  const { cluster, logger } = options;
  /** Every worker alive, with when it was forked. */
  const live = new Map<Worker, number>();
  const listening = new Set<Worker>();
  const timers = new Set<NodeJS.Timeout>();
  /** Old workers a rolling reload asked to drain: their exit is no crash. */
  const retiring = new Set<Worker>();
  /** Workers forked by a reload that have not listened yet: if they die, nothing replaces them. */
  const trial = new Set<Worker>();
  let quickFailures = 0;
  let stopping = false;
  let reloading: Promise<void> | undefined;
  /** The queue replacements and reloads take turns in: never two at once. */
  let turn: Promise<void> = Promise.resolve();
  /** Workers waiting in that queue (or being replaced): asked once, replaced once. */
  const queued = new Map<Worker, Promise<void>>();
  let closing: Promise<void> | undefined;
  let onAllExited: (() => void) | undefined;
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
    live.set(worker, Date.now());
    worker.on('listening', (where?: { address: string | null; port: number }) => onListening(worker, where));
    worker.on('exit', (code: number | null, signal: string | null) => onExit(worker, code, signal));
    logger.debug({ workerPid: worker.process.pid }, 'worker forked');
    return worker;
  }

  function onListening(worker: Worker, where: { address: string | null; port: number } | undefined): void {
    if (!live.has(worker)) return;
    listening.add(worker);
    address ??= { address: where?.address ?? '0.0.0.0', port: where?.port ?? 0 };
    if (onAllListening !== undefined && listening.size >= options.workers) {
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

  function onMessage(worker: Worker, message: unknown): void {
    // Not checked against `live`: the worker's 'exit' may be handled before its last message.
    if (isListenFailed(message)) {
      if (onStartFailed !== undefined) failStart(new ListenError(message.errno, message.host, message.port));
    } else if (isReplaceRequest(message)) {
      void replaceWorker(worker, message.reason);
    } else if (!stopping) {
      options.onMessage?.(worker, message);
    }
  }

  function onExit(worker: Worker, code: number | null, signal: string | null): void {
    const started = live.get(worker);
    if (started === undefined) return;
    const listened = listening.has(worker);
    live.delete(worker);
    listening.delete(worker);
    if (live.size === 0) onAllExited?.();
    if (retiring.delete(worker) || trial.delete(worker) || stopping || startFailed) return;
    const uptimeMs = Date.now() - started;
    let delayMs = 0;
    // gunicorn's "Worker failed to boot": a worker that dies before it ever listened failed to
    // start, however long that took. Counting only deaths within minUptimeMs let a loaded box
    // (where node alone takes over a second to start) crash-loop for ever without back-off.
    if (!listened || uptimeMs < options.minUptimeMs) {
      quickFailures += 1;
      delayMs = Math.min(options.restartDelayMs * 2 ** (quickFailures - 1), options.maxRestartDelayMs);
    } else {
      quickFailures = 0;
    }
    if (quickFailures >= options.maxStartFailures && onStartFailed !== undefined) {
      const error = new Error(`workers exit at start-up (${quickFailures} in a row, last exit code ${code ?? signal ?? 'unknown'}), each before listening or within ${options.minUptimeMs} ms; see the worker log lines above`);
      // Its last message (a listen failure, the better reason) is read before the channel's end.
      if (worker.isConnected()) worker.once('disconnect', () => failStart(error));
      else failStart(error);
      return;
    }
    logger.warn({ workerPid: worker.process.pid, code, signal, uptimeMs, restartInMs: delayMs }, 'worker died; replacing it');
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (stopping || startFailed) return;
      fork();
      options.onRestart?.('crash');
    }, delayMs);
    timers.add(timer);
  }

  function start(): Promise<ListeningAddress> {
    cluster.on('message', onMessage);
    const ready = new Promise<ListeningAddress>((resolve, reject) => {
      onAllListening = resolve;
      onStartFailed = reject;
    });
    for (let index = 0; index < options.workers; index += 1) fork();
    return ready;
  }

  /** Runs `job` once every replacement or reload asked before it has finished. */
  function inTurn(job: () => Promise<void>): Promise<void> {
    const run = turn.then(job);
    turn = run.catch(() => undefined);
    return run;
  }

  /** Forks old's successor; once it listens, old drains. The successor's pid if it died first, else null. */
  async function replace(old: Worker, reason: string): Promise<number | null> {
    const fresh = fork();
    trial.add(fresh);
    const ok = await firstEvent(fresh, 'listening', 'exit');
    trial.delete(fresh);
    if (!ok) return fresh.process.pid ?? 0;
    if (stopping) return null;
    if (!live.has(old)) {
      // Old died meanwhile and onExit already forked its crash replacement: one too many now.
      retiring.add(fresh);
      fresh.process.kill('SIGTERM');
      return null;
    }
    retiring.add(old);
    const exited = new Promise<void>((resolve) => old.once('exit', () => resolve()));
    logger.info({ oldPid: old.process.pid, newPid: fresh.process.pid, reason, listening: listening.size }, 'worker replaced');
    // SIGTERM: the worker's own handler drains it (see close() below).
    old.process.kill('SIGTERM');
    options.onRestart?.('reload');
    await exited;
    return null;
  }

  async function replaceEach(): Promise<void> {
    for (const old of [...live.keys()]) {
      if (stopping || !live.has(old) || retiring.has(old)) continue;
      const diedPid = await replace(old, 'reload');
      if (diedPid !== null) throw new Error(`reload stopped: new worker ${diedPid} exited before listening; the old workers keep serving`);
    }
  }

  function replaceWorker(old: Worker, reason = 'asked'): Promise<void> {
    const waiting = queued.get(old);
    if (waiting !== undefined) return waiting;
    if (stopping || !live.has(old)) return Promise.resolve();
    const job = inTurn(async () => {
      if (stopping || !live.has(old) || retiring.has(old)) return;
      const diedPid = await replace(old, reason);
      if (diedPid !== null) {
        // The old worker keeps serving rather than leave a gap; it does not ask again (a successor
        // that cannot start is a broken build or database, which retiring this one would not mend).
        logger.warn({ workerPid: old.process.pid, newPid: diedPid, reason }, 'replacement exited before listening; the worker keeps serving');
      }
    }).finally(() => queued.delete(old));
    queued.set(old, job);
    return job;
  }

  function close(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (closing !== undefined) return closing;
    stopping = true;
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
    closing = new Promise<void>((resolve) => {
      let killTimer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        clearTimeout(killTimer);
        cluster.off('message', onMessage);
        onAllExited = undefined;
        resolve();
      };
      if (options.killAfterMs !== undefined) {
        killTimer = setTimeout(() => {
          for (const worker of live.keys()) {
            logger.warn({ workerPid: worker.process.pid }, 'worker did not exit after draining; killing it');
            worker.process.kill('SIGKILL');
          }
        }, options.killAfterMs);
      }
      onAllExited = finish;
      // A signal, not worker.kill(): cluster's kill first disconnects IPC, which closes the
      // listening handle but leaves keep-alive sockets to node; the worker's own SIGTERM
      // handler runs the full graceful close.
      for (const worker of [...live.keys()]) worker.process.kill(signal);
      if (live.size === 0) finish();
    });
    return closing;
  }

  return {
    start,
    signal(signal) {
      for (const worker of live.keys()) worker.process.kill(signal);
    },
    rollingReload() {
      if (stopping) return Promise.resolve();
      reloading ??= inTurn(replaceEach).finally(() => {
        reloading = undefined;
      });
      return reloading;
    },
    replaceWorker,
    pids: () => [...live.keys()].map((worker) => worker.process.pid ?? 0),
    close,
  };
}
