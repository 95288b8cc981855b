/**
 * Admission to an upstream slot. Each upstream takes at most `maxActivePerUpstream` requests at
 * once; when every healthy one is full, a request waits in one FIFO queue, bounded in length and
 * in time (nginx plus `queue N timeout=T`; HAProxy `maxconn` + `timeout queue`). Queue full or
 * waited too long → the caller answers 503 + Retry-After rather than piling work on the app tier.
 */
import type { QueueConfig } from './config.js';
import type { Upstream, UpstreamPool } from './pool.js';

export type Refusal = 'unavailable' | 'queue-full' | 'queue-timeout';

export interface Ticket {
  /** The request left while waiting: give its place up. A no-op once admitted or refused. */
  cancel(): void;
}

export interface Admission {
  /**
   * Calls `onAdmitted` with an upstream whose slot is now held (synchronously when one is free),
   * or `onRefused` with the reason. upstreams in `avoid` are picked only as the last choice (a retry goes elsewhere).
   */
  admit(avoid: readonly Upstream[] | undefined, onAdmitted: (upstream: Upstream) => void, onRefused: (reason: Refusal) => void): Ticket;
  /** Gives a held slot back and hands it to the longest waiter. */
  release(upstream: Upstream): void;
  queued(): number;
  /** Refuses every waiter (the proxy is closing). */
  close(): void;
}

interface Waiter {
  readonly avoid: readonly Upstream[] | undefined;
  readonly onAdmitted: (upstream: Upstream) => void;
  readonly onRefused: (reason: Refusal) => void;
  timer: NodeJS.Timeout | undefined;
  done: boolean;
}

const NO_TICKET: Ticket = Object.freeze({ cancel: () => undefined });

export function createAdmission(pool: UpstreamPool, options: QueueConfig): Admission {
  const waiters: Waiter[] = [];

  const finish = (waiter: Waiter): void => {
    waiter.done = true;
    if (waiter.timer !== undefined) clearTimeout(waiter.timer);
    const at = waiters.indexOf(waiter);
    if (at !== -1) waiters.splice(at, 1);
    pool.setQueued(waiters.length);
  };

  /** Hands free slots to waiters in arrival order; a waiter nobody can serve any more is refused. */
  function drain(): void {
    while (waiters.length > 0) {
      const waiter = waiters[0] as Waiter;
      if (!pool.hasHealthy()) {
        finish(waiter);
        waiter.onRefused('unavailable');
        continue;
      }
      const upstream = pool.pick(waiter.avoid);
      if (upstream === undefined) return;
      pool.acquire(upstream);
      finish(waiter);
      waiter.onAdmitted(upstream);
    }
  }
  pool.onChange(drain);

  return {
    admit(avoid, onAdmitted, onRefused) {
      // Fast path, no allocation: a free slot now, and nobody ahead in the queue.
      if (waiters.length === 0) {
        const upstream = pool.pick(avoid);
        if (upstream !== undefined) {
          pool.acquire(upstream);
          onAdmitted(upstream);
          return NO_TICKET;
        }
      }
      if (!pool.hasHealthy()) {
        onRefused('unavailable');
        return NO_TICKET;
      }
      if (waiters.length >= options.maxQueue) {
        onRefused('queue-full');
        return NO_TICKET;
      }
      const waiter: Waiter = { avoid, onAdmitted, onRefused, timer: undefined, done: false };
      waiter.timer = setTimeout(() => {
        finish(waiter);
        onRefused('queue-timeout');
      }, options.queueTimeoutMs);
      waiters.push(waiter);
      pool.setQueued(waiters.length);
      return {
        cancel: () => {
          if (!waiter.done) finish(waiter);
        },
      };
    },
    release(upstream) {
      pool.release(upstream);
      if (waiters.length > 0) drain();
    },
    queued: () => waiters.length,
    close() {
      for (const waiter of [...waiters]) {
        finish(waiter);
        waiter.onRefused('unavailable');
      }
    },
  };
}
