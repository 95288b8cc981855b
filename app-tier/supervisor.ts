/**
 * The app tier's cluster primary: common/supervisor.ts with the app tier's settings. A crash
 * loop at start-up gives up after MAX_START_FAILURES; a reload (SIGHUP, `npm run reload`)
 * replaces every worker one at a time, as does a worker that reached APP_MAX_REQUESTS (one
 * replacement at a time, after the reload's, never two at once); close() kills a worker that has
 * not exited after its own drain bound.
 */
import type { Cluster } from 'node:cluster';
import type { Logger } from '../common/logger.js';
import { createClusterSupervisor, type ListeningAddress } from '../common/supervisor.js';
import type { AppConfig } from './config.js';

export type { ListeningAddress };

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
   * Resolves once every worker listens, with the shared address; rejects with a ListenError
   * when a worker cannot bind, and with an Error after MAX_START_FAILURES failed starts in a row.
   */
  start(): Promise<ListeningAddress>;
  /** Rolling reload: a new worker listens before each old one drains; see common/supervisor.ts. */
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
  const { config } = options;
  const supervisor = createClusterSupervisor({
    cluster: options.cluster,
    logger: options.logger,
    workers: config.workers,
    restartDelayMs: config.restartDelayMs,
    maxRestartDelayMs: config.maxRestartDelayMs,
    minUptimeMs: config.minUptimeMs,
    maxStartFailures: MAX_START_FAILURES,
    killAfterMs: config.shutdownTimeoutMs + EXIT_GRACE_MS,
    exec: options.exec,
    execArgv: options.execArgv,
    env: options.env,
    onRestart: options.onRestart,
  });
  return {
    start: supervisor.start,
    reload: supervisor.rollingReload,
    pids: supervisor.pids,
    close: () => supervisor.close('SIGTERM'),
  };
}
