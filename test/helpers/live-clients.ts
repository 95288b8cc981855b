/**
 * Live-feed clients for end-to-end tests: a WebSocket client of /api/live (`ws`) and a
 * Server-Sent Events reader of /api/articles/events (fetch), each keeping every message it got,
 * when it got it, and a way to await one (bounded) or the connection's end. The pieces (the
 * feed, the event-stream parser, `within`) serve tests that hold the connection some other way.
 */
import WebSocket from 'ws';

export const LIVE_WAIT_MS = 30_000;

/** One live-feed message, as both endpoints send it, with the time it arrived. */
export interface LiveMessage {
  readonly type: string;
  readonly eventId?: string;
  readonly article?: { id: number; title: string; url: string };
  readonly worker?: { pid: number };
  readonly at: number;
}

export function within<T>(promise: Promise<T>, what: string, ms = LIVE_WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  })]).finally(() => clearTimeout(timer));
}

export interface Feed {
  readonly messages: LiveMessage[];
  /** Resolves when the connection ends (closed, reset, or the stream finished). */
  readonly ended: Promise<void>;
  /** The first message (already here or still to come) that matches; bounded; rejects if the connection ends first. */
  waitFor(match: (message: LiveMessage) => boolean, what: string, ms?: number): Promise<LiveMessage>;
  /** The eventId of the newest article event received. */
  lastEventId(): string | undefined;
}

/** A feed that `push` fills; `ended` is the connection's end, which fails the waits still open. */
export function createFeed(ended: Promise<void>): Feed & { push(message: LiveMessage): void } {
  const messages: LiveMessage[] = [];
  const waiters = new Set<() => void>();
  return {
    messages,
    ended,
    push(message) {
      messages.push(message);
      for (const wake of waiters) wake();
    },
    async waitFor(match, what, ms = LIVE_WAIT_MS) {
      const deadline = Date.now() + ms;
      for (;;) {
        const found = messages.find(match);
        if (found !== undefined) return found;
        let wake: () => void = () => undefined;
        const arrived = new Promise<void>((resolve) => {
          wake = resolve;
          waiters.add(resolve);
        });
        try {
          await within(Promise.race([arrived, ended.then(() => {
            throw new Error(`the connection ended while waiting for ${what}`);
          })]), what, Math.max(0, deadline - Date.now()));
        } finally {
          waiters.delete(wake);
        }
      }
    },
    lastEventId() {
      return messages.filter((message) => message.eventId !== undefined).at(-1)?.eventId;
    },
  };
}

export interface LiveSocket extends Feed {
  readonly ws: WebSocket;
  /** The close code (1006 when the connection was cut without a close frame). */
  readonly closeCode: Promise<number>;
  /** The worker pid from the `hello` message. */
  readonly pid: number;
}

/** Connects to `${base}/api/live` (http base), resolves after `hello`. */
export async function connectLiveSocket(base: string, options: { lastEventId?: string | undefined } = {}): Promise<LiveSocket> {
  const query = options.lastEventId === undefined ? '' : `?lastEventId=${encodeURIComponent(options.lastEventId)}`;
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/api/live${query}`, { handshakeTimeout: 10_000 });
  const closeCode = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  const feed = createFeed(closeCode.then(() => undefined));
  // A handshake failure (502 while a dead box is still thought healthy) comes as 'error', then 'close'.
  const failed = new Promise<never>((_, reject) => ws.once('error', (error) => reject(error)));
  failed.catch(() => undefined);
  ws.on('error', () => undefined);
  ws.on('message', (data) => feed.push({ ...(JSON.parse(String(data)) as Omit<LiveMessage, 'at'>), at: Date.now() }));
  const hello = await Promise.race([feed.waitFor((message) => message.type === 'hello', 'hello', 15_000), failed]);
  return { ...feed, ws, closeCode, pid: hello.worker?.pid ?? 0 };
}

export interface LiveStream extends Feed {
  readonly status: number;
  close(): void;
}

/** Opens `${base}/api/articles/events`, resolves once the response headers are in. */
export async function openEventStream(base: string, options: { lastEventId?: string | undefined } = {}): Promise<LiveStream> {
  const controller = new AbortController();
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId;
  const response = await within(fetch(`${base}/api/articles/events`, { headers, signal: controller.signal }), 'the event stream to answer', 15_000);
  let finish: () => void = () => undefined;
  const ended = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const feed = createFeed(ended);
  if (response.status !== 200 || response.body === null) {
    await response.body?.cancel().catch(() => undefined);
    finish();
    return { ...feed, status: response.status, close: () => undefined };
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const parse = createEventStreamParser((message) => feed.push(message));
  void (async () => {
    try {
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) break;
        parse(decoder.decode(chunk.value, { stream: true }));
      }
    } catch {
      // Reset or aborted: the stream has ended either way.
    }
    finish();
  })();
  return { ...feed, status: response.status, close: () => controller.abort() };
}

/** Takes an event stream's text as it comes, in pieces of any size; hands on each event's `data:` as a message. */
export function createEventStreamParser(onMessage: (message: LiveMessage) => void): (text: string) => void {
  let text = '';
  return (more) => {
    text += more;
    // HTML Living Standard §9.2.6: an event ends at a blank line; `id:`/`event:`/`data:` fields.
    for (let end = text.indexOf('\n\n'); end !== -1; end = text.indexOf('\n\n')) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      const data = block.split('\n').find((line) => line.startsWith('data: '));
      if (data !== undefined) onMessage({ ...(JSON.parse(data.slice(6)) as Omit<LiveMessage, 'at'>), at: Date.now() });
    }
  };
}

/** Reads a raw event stream until its text holds `needle` (or the stream ends); each read bounded. Returns the text. */
export async function readStreamUntil(reader: ReadableStreamDefaultReader<Uint8Array>, needle: string, what: string): Promise<string> {
  let text = '';
  const decoder = new TextDecoder();
  while (!text.includes(needle)) {
    const chunk = await within(reader.read(), what);
    if (chunk.done) break;
    text += decoder.decode(chunk.value, { stream: true });
  }
  return text;
}
