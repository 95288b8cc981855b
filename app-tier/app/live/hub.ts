/**
 * The live feed's hub, one per process: article writes publish events here, and every
 * connected client (WebSocket /api/live, Server-Sent Events /api/articles/events) of this
 * process is a subscriber. Which other processes hear an event is the transport's business:
 * the cluster primary for the workers of one box (common/live-cluster.ts: the app tier's workers,
 * or the web tier's in embedded mode), Postgres LISTEN/NOTIFY across boxes
 * (app-tier/store/postgres-notify.ts), or nobody (one process).
 *
 * With a transport, an event is delivered here only when it comes back from the transport, never
 * at once: every process then sees the events in the transport's one order (the primary's, or
 * Postgres's commit order), so a Last-Event-ID means the same place in every process's buffer.
 */
import { randomBytes } from 'node:crypto';

export type ArticleEventType = 'article.created' | 'article.updated' | 'article.deleted';

export interface ArticleEvent {
  /** Opaque, unique; the SSE `id:` field and what Last-Event-ID names. */
  readonly id: string;
  readonly type: ArticleEventType;
  readonly article: {
    readonly id: number;
    readonly title: string;
    /** The JSON resource (GET it for the whole article). */
    readonly url: string;
    /** The HTML page; absent for a deleted article. */
    readonly page?: string | undefined;
  };
}

export interface LiveTransport {
  /** Sends an event to every process, this one included (it comes back through `onEvent`). */
  publish(event: ArticleEvent): void;
  /** Starts listening; every event from any process (this one too) is handed to onEvent. */
  start(onEvent: (event: ArticleEvent) => void): Promise<void>;
  close(): Promise<void>;
}

export type LiveListener = (event: ArticleEvent) => void;

export interface LiveHub {
  publish(type: ArticleEventType, article: ArticleEvent['article']): void;
  /** Calls `listener` for every event from now on; returns the unsubscribe function. */
  subscribe(listener: LiveListener, onEnd?: () => void): () => void;
  /**
   * The events after `lastId`, oldest first, from the bounded recent buffer; undefined when
   * `lastId` is not in it any more (the client missed more than the buffer holds).
   */
  since(lastId: string): ArticleEvent[] | undefined;
  /** Subscribers now. */
  readonly subscribers: number;
  /** Ends every subscription (their onEnd runs): the process drains. Publishing stops too. */
  end(): void;
  readonly ended: boolean;
  /** end() and the transport's close. */
  close(): Promise<void>;
}

export interface LiveHubOptions {
  readonly transport?: LiveTransport | undefined;
  /** How many recent events are kept for since(). */
  readonly bufferEvents: number;
  /** A transport's publish failed (logged by the caller's logger). */
  readonly onError?: ((error: unknown) => void) | undefined;
}

/** Checks what came over a transport (another process, or the database) before it is trusted. */
export function isArticleEvent(value: unknown): value is ArticleEvent {
  if (typeof value !== 'object' || value === null) return false;
  const { id, type, article } = value as Partial<ArticleEvent>;
  return typeof id === 'string' && (type === 'article.created' || type === 'article.updated' || type === 'article.deleted')
    && typeof article === 'object' && article !== null && typeof article.id === 'number' && typeof article.title === 'string' && typeof article.url === 'string';
}

export function createLiveHub(options: LiveHubOptions): LiveHub {
  const listeners = new Map<LiveListener, (() => void) | undefined>();
  const recent: ArticleEvent[] = [];
  const seen = new Set<string>();
  // Unique across processes and restarts without coordination: a random prefix per process.
  const prefix = randomBytes(4).toString('hex');
  let counter = 0;
  let ended = false;

  function deliver(event: ArticleEvent): void {
    // A transport may hand the same event twice (a reconnect); the buffer holds each once.
    if (seen.has(event.id)) return;
    recent.push(event);
    seen.add(event.id);
    while (recent.length > options.bufferEvents) seen.delete((recent.shift() as ArticleEvent).id);
    for (const listener of [...listeners.keys()]) listener(event);
  }

  const started = options.transport?.start(deliver);
  started?.catch((error: unknown) => options.onError?.(error));

  return {
    publish(type, article) {
      if (ended) return;
      counter += 1;
      const event: ArticleEvent = { id: `${Date.now().toString(36)}-${prefix}-${counter}`, type, article };
      if (options.transport === undefined) {
        deliver(event);
        return;
      }
      try {
        options.transport.publish(event);
      } catch (error) {
        // The other processes miss it; this process's own clients still get it.
        options.onError?.(error);
        deliver(event);
      }
    },
    subscribe(listener, onEnd) {
      if (ended) {
        onEnd?.();
        return () => undefined;
      }
      listeners.set(listener, onEnd);
      return () => {
        listeners.delete(listener);
      };
    },
    since(lastId) {
      const index = recent.findIndex((event) => event.id === lastId);
      return index === -1 ? undefined : recent.slice(index + 1);
    },
    get subscribers() {
      return listeners.size;
    },
    end() {
      if (ended) return;
      ended = true;
      const ends = [...listeners.values()];
      listeners.clear();
      for (const onEnd of ends) onEnd?.();
    },
    get ended() {
      return ended;
    },
    async close() {
      this.end();
      await options.transport?.close();
    },
  };
}
