/**
 * What the live feed sends, and GET /api/articles/events: the same events as Server-Sent Events
 * (HTML Living Standard §9.2, `text/event-stream`) for clients without WebSocket. Each event
 * carries an `id:`; a client that reconnects sends it back as Last-Event-ID and gets what it
 * missed, as long as the process's recent buffer still holds it (else an `event: reset`, so the
 * page reloads its list instead of silently missing writes).
 */
import type { AppResponse } from '../../../common/app-interface.js';
import type { Article } from '../../store/types.js';
import type { AppDeps, View } from '../context.js';
import { pad2, publishedParts } from '../templates/articles.js';
import type { ArticleEvent, LiveHub } from './hub.js';

/** How long a stream may stay silent: a comment line then keeps proxies' idle timers from cutting it. */
export const SSE_PING_MS = 15_000;
/** The reconnection delay the stream asks EventSource for (the `retry:` field), in ms. */
export const SSE_RETRY_MS = 2_000;
/** Chunks waiting for a slow client: past this the stream ends, and the client resumes with Last-Event-ID. */
const MAX_PENDING_CHUNKS = 1_000;

/** The article fields every event carries: id, title, the JSON resource and (unless deleted) the page. */
export function eventArticle(deps: AppDeps, article: Pick<Article, 'id' | 'title' | 'slug' | 'published'>, deleted = false): ArticleEvent['article'] {
  const url = deps.reverse('api-article', { id: article.id });
  if (deleted) return { id: article.id, title: article.title, url };
  const { year, month } = publishedParts(article);
  return { id: article.id, title: article.title, url, page: deps.reverse('article-detail', { year, month: pad2(month), slug: article.slug }) };
}

/** The JSON both /api/live and the SSE stream send for an event. */
export function eventMessage(event: ArticleEvent): string {
  return JSON.stringify({ type: event.type, eventId: event.id, article: event.article });
}

function sseEvent(event: ArticleEvent): string {
  // JSON.stringify never emits a raw newline, so the data fits on one `data:` line.
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${eventMessage(event)}\n\n`;
}

/** The stream for one client: replay after lastId, then every new event, pings in between. */
export function sseStream(hub: LiveHub, lastId: string | undefined, pingMs = SSE_PING_MS): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator]() {
      const pending: string[] = [`retry: ${SSE_RETRY_MS}\n\n`];
      let wake: (() => void) | undefined;
      let done = false;
      const notify = (): void => {
        const resume = wake;
        wake = undefined;
        resume?.();
      };
      const unsubscribe = hub.subscribe((event) => {
        if (pending.length >= MAX_PENDING_CHUNKS) done = true;
        else pending.push(sseEvent(event));
        notify();
      }, () => {
        done = true;
        notify();
      });
      // Subscribed before the replay is read: an event published in between is in one of the two.
      if (lastId !== undefined) {
        const missed = hub.since(lastId);
        if (missed === undefined) pending.push('event: reset\ndata: {"type":"reset"}\n\n');
        else for (const event of missed) pending.push(sseEvent(event));
      }
      const timer = setInterval(() => {
        pending.push(': ping\n\n');
        notify();
      }, pingMs);
      timer.unref();
      const cleanup = (): void => {
        clearInterval(timer);
        unsubscribe();
      };
      return {
        async next(): Promise<IteratorResult<Uint8Array>> {
          while (pending.length === 0 && !done) await new Promise<void>((resolve) => {
            wake = resolve;
          });
          if (pending.length > 0) return { value: Buffer.from(pending.splice(0).join(''), 'utf8'), done: false };
          cleanup();
          return { value: undefined, done: true };
        },
        async return(): Promise<IteratorResult<Uint8Array>> {
          cleanup();
          return { value: undefined, done: true };
        },
      };
    },
  };
}

const SSE_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  // nginx (and nginx-like proxies) would buffer the stream otherwise.
  'X-Accel-Buffering': 'no',
};

export const articleEvents: View = async ({ request, query, deps }) => {
  const header = request.headers['last-event-id'];
  // EventSource sends Last-Event-ID itself; ?lastEventId= serves a client that cannot set headers.
  const lastId = header !== undefined && header !== '' ? header : query.get('lastEventId') ?? undefined;
  if (deps.live === undefined) {
    // CGI: the process ends with the response, so nothing can be pushed later. An empty stream
    // that asks for a reconnect keeps EventSource clients working, as slow polling.
    return { status: 200, headers: SSE_HEADERS, body: `retry: ${SSE_RETRY_MS * 5}\n: this mode cannot hold a connection open\n\n` } satisfies AppResponse;
  }
  return { status: 200, headers: SSE_HEADERS, body: sseStream(deps.live, lastId) };
};
