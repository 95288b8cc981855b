/**
 * The live feed's hub for one app-tier worker, with the transport its placement needs: Postgres
 * LISTEN/NOTIFY when DATABASE_URL is postgres (every worker of every box listens on the database
 * they share, so a write on box 1 reaches a client on box 2); else the cluster primary's relay
 * (the workers of one box); else none (a standalone worker: pm2, a test).
 */
import type { Logger } from '../common/logger.js';
import { createClusterLiveTransport, type LiveChannel } from '../common/live-cluster.js';
import { createLiveHub, isArticleEvent, type LiveHub, type LiveTransport } from './app/live/hub.js';
import { parseDatabaseUrl } from './store/database-url.js';

export interface WorkerLiveOptions {
  readonly databaseUrl: string;
  readonly bufferEvents: number;
  readonly logger: Logger;
  /** The IPC channel to our cluster primary; absent for a standalone worker. */
  readonly channel?: LiveChannel | undefined;
}

export async function createWorkerLiveHub(options: WorkerLiveOptions): Promise<LiveHub> {
  const { logger } = options;
  const location = parseDatabaseUrl(options.databaseUrl);
  let transport: LiveTransport | undefined;
  if (location.kind === 'postgres') {
    // Loaded only for postgres, as the store is (store/index.ts).
    const { createPostgresNotifyTransport } = await import('./store/postgres-notify.js');
    transport = createPostgresNotifyTransport({ url: location.url, logger });
  } else if (options.channel !== undefined) {
    transport = createClusterLiveTransport(options.channel, isArticleEvent);
  }
  return createLiveHub({
    transport,
    bufferEvents: options.bufferEvents,
    onError: (error) => logger.warn({ err: error }, 'live feed: an event could not be sent to the other processes'),
  });
}
