/**
 * A retry budget (Finagle's RetryBudget, Envoy's retry_budget): retries may add at most `percent`
 * per cent of the requests seen over a sliding window, plus a small floor so that a quiet site can still
 * retry. When every upstream fails at once, retries stop instead of doubling the load on an app
 * tier that is already down (a retry storm).
 */
import type { RetryBudgetConfig } from './config.js';

export interface RetryBudget {
  recordRequest(): void;
  /** True (and the retry is counted) when the budget allows one more retry now. */
  tryRetry(): boolean;
}

const BUCKETS = 10;

export function createRetryBudget(options: RetryBudgetConfig, now: () => number = Date.now): RetryBudget {
  const span = Math.max(1, Math.ceil(options.windowMs / BUCKETS));
  const requests = new Array<number>(BUCKETS).fill(0);
  const retries = new Array<number>(BUCKETS).fill(0);
  let currentSlot = Math.floor(now() / span);

  /** Moves the window to now, zeroing the buckets that fell out of it. */
  function advance(): number {
    const slot = Math.floor(now() / span);
    const stale = Math.min(BUCKETS, slot - currentSlot);
    for (let step = 1; step <= stale; step += 1) {
      const index = (currentSlot + step) % BUCKETS;
      requests[index] = 0;
      retries[index] = 0;
    }
    currentSlot = Math.max(currentSlot, slot);
    return currentSlot % BUCKETS;
  }

  const sum = (values: number[]): number => values.reduce((total, value) => total + value, 0);

  return {
    recordRequest() {
      const index = advance();
      requests[index] = (requests[index] ?? 0) + 1;
    },
    tryRetry() {
      const index = advance();
      // Integer arithmetic in the configured unit: retries × 100 against percent × requests.
      if (sum(retries) * 100 >= options.minPerWindow * 100 + options.percent * sum(requests)) return false;
      retries[index] = (retries[index] ?? 0) + 1;
      return true;
    },
  };
}
