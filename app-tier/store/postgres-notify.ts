/**
 * The live feed across boxes: Postgres LISTEN/NOTIFY on the database the boxes already share.
 * Every worker holds one connection that LISTENs on a channel; an event is published with
 * pg_notify() and delivered to every listening session, the sender's included, in commit order
 * (PostgreSQL docs, NOTIFY: "notifications from different transactions are delivered in the
 * order in which the transactions committed"), so every process's recent buffer agrees.
 * A payload is limited to 8000 bytes (same docs); an event (a title of at most 200 characters,
 * two URLs) is far below it. A lost connection is reopened with back-off; events sent while it
 * was down are not replayed to this process (its clients see them after their next write, or
 * an SSE client's Last-Event-ID finds a gap and gets `reset`).
 */
import pg from 'pg';
import type { Logger } from '../../common/logger.js';
import { isArticleEvent, type LiveTransport } from '../app/live/hub.js';

/** The NOTIFY channel (an identifier: lower case, no quoting needed). */
export const LIVE_CHANNEL = 'twotier_live';

export interface PostgresNotifyOptions {
  readonly url: string;
  readonly logger: Logger;
  readonly channel?: string | undefined;
  /** First wait before reconnecting; doubles up to 30 s. */
  readonly reconnectDelayMs?: number | undefined;
}

const MAX_RECONNECT_DELAY_MS = 30_000;

export function createPostgresNotifyTransport(options: PostgresNotifyOptions): LiveTransport {
  const { logger } = options;
  const channel = options.channel ?? LIVE_CHANNEL;
  const firstDelay = options.reconnectDelayMs ?? 500;
  let client: pg.Client | undefined;
  let closed = false;
  let delay = firstDelay;
  let timer: NodeJS.Timeout | undefined;

  async function connect(onEvent: (event: never) => void): Promise<void> {
    const next = new pg.Client({ connectionString: options.url });
    let failed = false;
    const onLost = (error?: Error): void => {
      if (failed) return;
      failed = true;
      if (client === next) client = undefined;
      void next.end().catch(() => undefined);
      if (closed) return;
      logger.warn({ err: error, retryInMs: delay }, 'live feed: the LISTEN connection to Postgres was lost; reconnecting');
      timer = setTimeout(() => {
        timer = undefined;
        connect(onEvent).catch(() => undefined);
      }, delay);
      timer.unref();
      delay = Math.min(delay * 2, MAX_RECONNECT_DELAY_MS);
    };
    // pg emits 'error' on a client whose server went away; unhandled it would crash the worker.
    next.on('error', onLost);
    next.on('end', () => onLost());
    next.on('notification', (message) => {
      if (message.channel !== channel || message.payload === undefined) return;
      let value: unknown;
      try {
        value = JSON.parse(message.payload);
      } catch {
        return;
      }
      if (isArticleEvent(value)) (onEvent as (event: unknown) => void)(value);
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${channel}`);
    } catch (error) {
      onLost(error as Error);
      throw error;
    }
    if (closed) {
      await next.end().catch(() => undefined);
      return;
    }
    client = next;
    delay = firstDelay;
  }

  return {
    publish(event) {
      const current = client;
      if (current === undefined) throw new Error('the LISTEN connection to Postgres is down; the event reaches this process\'s clients only');
      current.query('SELECT pg_notify($1, $2)', [channel, JSON.stringify(event)]).catch((error: unknown) => {
        logger.warn({ err: error }, 'live feed: pg_notify failed; the event is lost for the other boxes');
      });
    },
    start(onEvent) {
      return connect(onEvent as (event: never) => void);
    },
    async close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      const current = client;
      client = undefined;
      await current?.end().catch(() => undefined);
    },
  };
}
