/**
 * The last few 5xx answers with their request ids, newest first: what an operator greps the
 * logs of both tiers for (the id is in every line of the request's path).
 */
import type { FinishedRequest } from './metrics.js';

export interface RecentError {
  /** ISO time it finished. */
  readonly at: string;
  readonly requestId: string;
  readonly status: number;
  readonly method: string;
  readonly path: string;
  readonly route: string;
  readonly upstream?: string;
}

export interface RecentErrors {
  record(request: FinishedRequest): void;
  list(): readonly RecentError[];
}

export function createRecentErrors(limit = 20): RecentErrors {
  const errors: RecentError[] = [];
  return {
    record(request) {
      if (request.status < 500) return;
      errors.unshift({
        at: new Date(request.at).toISOString(),
        requestId: request.requestId,
        status: request.status,
        method: request.method,
        path: request.path,
        route: request.route,
        ...(request.upstream === undefined ? {} : { upstream: request.upstream }),
      });
      if (errors.length > limit) errors.length = limit;
    },
    list: () => errors.slice(),
  };
}
