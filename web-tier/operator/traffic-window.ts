/**
 * Request and error counts for the last minute, one slot per second in a ring buffer (the
 * shape HAProxy's stats page and nginx's stub_status readers compute rates from). Memory is
 * fixed; recording is O(1); an idle gap longer than the window clears it in one bounded step.
 */

export interface TrafficSnapshot {
  readonly windowSeconds: number;
  /** Totals over the window. */
  readonly requests: number;
  readonly errors: number;
  /** requests / seconds covered (the window, or the uptime while it is shorter). */
  readonly requestsPerSecond: number;
  /** errors / requests over the window; 0 with no requests. */
  readonly errorRate: number;
  /** Oldest first, the current (partial) second last. */
  readonly perSecond: readonly number[];
  readonly errorsPerSecond: readonly number[];
}

export interface TrafficWindow {
  /** An error is a 5xx: the deployment failed the request (a 4xx is the client's). */
  record(status: number): void;
  snapshot(): TrafficSnapshot;
}

export function createTrafficWindow(options: { seconds?: number; now?: () => number } = {}): TrafficWindow {
  const size = options.seconds ?? 60;
  const now = options.now ?? Date.now;
  const requests = new Array<number>(size).fill(0);
  const errors = new Array<number>(size).fill(0);
  const startSecond = Math.floor(now() / 1000);
  let currentSecond = startSecond;

  /** Clears the slots of seconds that passed without a request; at most `size` of them. */
  function advance(): number {
    const second = Math.floor(now() / 1000);
    if (second <= currentSecond) return currentSecond;
    const gap = Math.min(second - currentSecond, size);
    for (let step = 1; step <= gap; step += 1) {
      const slot = (currentSecond + step) % size;
      requests[slot] = 0;
      errors[slot] = 0;
    }
    currentSecond = second;
    return second;
  }

  return {
    record(status) {
      const slot = advance() % size;
      requests[slot] = (requests[slot] ?? 0) + 1;
      if (status >= 500) errors[slot] = (errors[slot] ?? 0) + 1;
    },
    snapshot() {
      const second = advance();
      const perSecond: number[] = [];
      const errorsPerSecond: number[] = [];
      for (let back = size - 1; back >= 0; back -= 1) {
        const slot = (((second - back) % size) + size) % size;
        perSecond.push(requests[slot] ?? 0);
        errorsPerSecond.push(errors[slot] ?? 0);
      }
      const total = perSecond.reduce((sum, count) => sum + count, 0);
      const failed = errorsPerSecond.reduce((sum, count) => sum + count, 0);
      const covered = Math.min(size, second - startSecond + 1);
      return {
        windowSeconds: size,
        requests: total,
        errors: failed,
        requestsPerSecond: Math.round((total / covered) * 100) / 100,
        errorRate: total === 0 ? 0 : Math.round((failed / total) * 10_000) / 10_000,
        perSecond,
        errorsPerSecond,
      };
    },
  };
}
