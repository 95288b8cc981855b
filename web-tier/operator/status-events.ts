/**
 * `/-/status/events`: Server-Sent Events (HTML Living Standard §9.2) carrying the status
 * snapshot once a second. One timer and one snapshot per tick, shared by every open page; the
 * timer runs only while someone watches. A client that stops reading is cut rather than
 * buffered for, and close() ends every stream so a graceful shutdown is not held up by them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../common/logger.js';
import type { StatusSource } from './status-data.js';

export interface StatusEventsOptions {
  source: StatusSource;
  logger: Logger;
  intervalMs?: number;
  /** Open streams beyond this get 503: each one is a held socket. */
  maxClients?: number;
}

export interface StatusEvents {
  attach(req: IncomingMessage, res: ServerResponse): void;
  clients(): number;
  close(): void;
}

/** A page that has not read this much of its stream is not reading at all. */
const MAX_BUFFERED_BYTES = 1024 * 1024;
/** §9.2.4: the client waits this long before reconnecting after the stream drops. */
const RETRY_MS = 2_000;

export function createStatusEvents(options: StatusEventsOptions): StatusEvents {
  const intervalMs = options.intervalMs ?? 1_000;
  const maxClients = options.maxClients ?? 32;
  const clients = new Set<ServerResponse>();
  let timer: NodeJS.Timeout | undefined;
  let busy = false;
  let closed = false;
  let eventId = 0;

  function send(res: ServerResponse, frame: string): void {
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      res.destroy();
      return;
    }
    res.write(frame);
  }

  async function tick(only?: ServerResponse): Promise<void> {
    if (busy && only === undefined) return;
    if (only === undefined) busy = true;
    try {
      const snapshot = await options.source.snapshot();
      eventId += 1;
      // JSON.stringify never emits a raw newline, so the payload is a single data: line (§9.2.6).
      const frame = `id: ${eventId}\nevent: status\ndata: ${JSON.stringify(snapshot)}\n\n`;
      const targets = only === undefined ? [...clients] : clients.has(only) ? [only] : [];
      for (const res of targets) send(res, frame);
    } catch (error) {
      options.logger.warn({ err: error }, 'status snapshot failed');
    } finally {
      if (only === undefined) busy = false;
    }
  }

  function stopTimerIfIdle(): void {
    if (clients.size === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  }

  return {
    attach(req, res) {
      if (closed || clients.size >= maxClients) {
        const body = closed ? 'shutting down\n' : 'too many status streams\n';
        res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', 'Retry-After': '5' });
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      res.writeHead(200, {
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-store',
        // A buffering reverse proxy in front (nginx) would hold the events back.
        'X-Accel-Buffering': 'no',
      });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      res.write(`retry: ${RETRY_MS}\n\n`);
      clients.add(res);
      res.once('close', () => {
        clients.delete(res);
        stopTimerIfIdle();
      });
      timer ??= setInterval(() => void tick(), intervalMs);
      // The page should not wait a whole interval for its first picture.
      void tick(res);
    },
    clients: () => clients.size,
    close() {
      closed = true;
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      for (const res of clients) res.end();
      clients.clear();
    },
  };
}
