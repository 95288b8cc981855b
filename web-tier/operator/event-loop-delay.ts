/**
 * The web tier's event-loop delay (perf_hooks.monitorEventLoopDelay) over recent minutes: the
 * status page and `twotier_web_event_loop_delay_seconds` read it.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export interface EventLoopDelay {
  readonly meanMs: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

const LOOP_RESOLUTION_MS = 10;
/** The histogram restarts after this, so its numbers describe recent minutes, not the whole uptime. */
const LOOP_WINDOW_MS = 60_000;

export function createEventLoopDelay(now: () => number): { read(): EventLoopDelay; close(): void } {
  const loop: IntervalHistogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  loop.enable();
  let since = now();
  return {
    read() {
      // The histogram records whole timer intervals, so an idle loop reads ~resolution; the delay
      // is what exceeds it (as @fastify/under-pressure computes it).
      const ms = (ns: number): number => (Number.isFinite(ns) ? Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS) : 0);
      const delay = { meanMs: ms(loop.mean), p99Ms: ms(loop.percentile(99)), maxMs: ms(loop.max) };
      if (now() - since >= LOOP_WINDOW_MS) {
        loop.reset();
        since = now();
      }
      return delay;
    },
    close() {
      loop.disable();
    },
  };
}
