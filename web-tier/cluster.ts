/**
 * WEB_WORKERS=N: the web tier itself as N processes sharing one listening socket (node:cluster,
 * round-robin in the primary), like nginx's worker_processes. The primary serves nothing:
 * common/supervisor.ts forks, replaces a worker that dies unexpectedly (with a growing back-off,
 * so a worker that cannot start does not spin), and stops them. Here are the web tier's parts:
 * a config reload is SIGHUP to every worker (each re-reads its config in place), a worker may
 * ask for one (POST /-/reload reaches one worker), the first death before listening fails
 * the start, and in embedded mode the live feed's events are relayed to every worker
 * (common/live-cluster.ts, as the app tier's primary relays them), so a write through one worker
 * reaches the live clients of all. Every worker, a replacement too, is given the primary's
 * instance token (INSTANCE_TOKEN_ENV): the cluster is one deployment to the proxy-loop guard
 * (proxy/loop-guard.ts), so a request that comes back through another worker is still its own.
 */
import type { Cluster, Worker } from 'node:cluster';
import type { Logger } from '../common/logger.js';
import { createLiveRelay } from '../common/live-cluster.js';
import { createClusterSupervisor } from '../common/supervisor.js';
import { createInstanceToken } from './proxy/loop-guard.js';

/** The variable a worker finds its deployment's instance token in (main.ts reads it, in workers only). */
export const INSTANCE_TOKEN_ENV = 'TWOTIER_WEB_INSTANCE';

/** What a worker sends its primary to have every worker reload (POST /-/reload reaches one worker). */
export const RELOAD_ALL_MESSAGE = Object.freeze({ twotier: 'reload-all' });

function isReloadAll(message: unknown): boolean {
  return typeof message === 'object' && message !== null && (message as { twotier?: unknown }).twotier === RELOAD_ALL_MESSAGE.twotier;
}

export interface WebClusterOptions {
  readonly cluster: Cluster;
  readonly workers: number;
  readonly logger: Logger;
  /** The deployment's token (proxy/loop-guard.ts), handed to every worker; absent, a fresh one. */
  readonly instanceToken?: string;
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
  const { logger } = options;
  const reload = (): void => supervisor.signal('SIGHUP');
  const supervisor = createClusterSupervisor({
    cluster: options.cluster,
    logger,
    workers: options.workers,
    restartDelayMs: options.restartDelayMs ?? 500,
    maxRestartDelayMs: 10_000,
    minUptimeMs: options.stableAfterMs ?? 10_000,
    // A web worker has nothing to wait for (no database): one that cannot start will not on a retry.
    maxStartFailures: 1,
    env: { [INSTANCE_TOKEN_ENV]: options.instanceToken ?? createInstanceToken() },
    onMessage(_worker: Worker, message: unknown) {
      if (!isReloadAll(message)) return;
      logger.info({ workers: supervisor.pids() }, 'config reload requested by a worker: SIGHUP to every worker');
      reload();
    },
  });
  // Only the embedded app publishes live events; in proxy and CGI modes no worker sends one.
  const liveRelay = createLiveRelay(options.cluster);
  return {
    async start() {
      await supervisor.start();
    },
    reload,
    async close(signal: NodeJS.Signals = 'SIGTERM') {
      // Relaying on while the workers drain: a write finishing on one still reaches the others' streams.
      await supervisor.close(signal);
      liveRelay.close();
    },
    pids: supervisor.pids,
  };
}
