/**
 * Handler swaps without dropped requests: a handler retired by a config reload keeps serving
 * the requests it already has and is closed when the last of them ends (or after a bound).
 */
import type { ServerResponse } from 'node:http';
import type { Logger } from '../common/logger.js';
import type { RequestHandler } from './context.js';

export interface HandlerDrain {
  /** Counts a request on `handler` until its response closes. */
  track(handler: RequestHandler, res: ServerResponse): void;
  /** Closes `handler` once its in-flight requests have ended, or after `boundMs`. */
  retire(handler: RequestHandler, boundMs: number): Promise<void>;
  /** Retired handlers not closed yet. */
  pending(): Promise<void>[];
}

export function createHandlerDrain(logger: Logger): HandlerDrain {
  const inFlight = new Map<RequestHandler, number>();
  const waiting = new Map<RequestHandler, () => void>();
  const closing = new Set<Promise<void>>();

  function ended(handler: RequestHandler): void {
    const left = (inFlight.get(handler) ?? 1) - 1;
    if (left > 0) {
      inFlight.set(handler, left);
      return;
    }
    inFlight.delete(handler);
    waiting.get(handler)?.();
  }

  return {
    track(handler, res) {
      inFlight.set(handler, (inFlight.get(handler) ?? 0) + 1);
      res.once('close', () => ended(handler));
    },
    retire(handler, boundMs) {
      const done = new Promise<void>((resolve) => {
        if (!inFlight.has(handler)) {
          resolve();
          return;
        }
        const timer = setTimeout(() => {
          logger.warn({ inFlight: inFlight.get(handler) }, 'retired handler still busy after the bound; closing it');
          resolve();
        }, boundMs);
        timer.unref();
        waiting.set(handler, () => {
          clearTimeout(timer);
          resolve();
        });
      }).then(async () => {
        waiting.delete(handler);
        await handler.close();
      });
      closing.add(done);
      void done.finally(() => closing.delete(done));
      return done;
    },
    pending: () => [...closing],
  };
}
