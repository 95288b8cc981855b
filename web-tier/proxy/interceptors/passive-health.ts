/**
 * Passive health as an interceptor around dispatch (nginx max_fails / fail_timeout): what an
 * attempt's failure or a draining answer says about its upstream is told to the pool before the
 * retry interceptor picks where to go next.
 */
import type { Interceptor } from '../dispatch.js';
import { errorCode, toUpstreamError } from '../errors.js';
import type { Exchange } from '../exchange.js';
import type { UpstreamPool } from '../pool.js';
import { countsAgainstUpstream, isDrainingAnswer } from '../retry-policy.js';

export function passiveHealth(pool: UpstreamPool): Interceptor {
  return (next) => (exchange, attempt, handler) => next(exchange, attempt, {
    onRequest: (proxyReq) => handler.onRequest(proxyReq),
    onResponse(proxyRes) {
      if (attempt.upstream !== undefined && isDrainingAnswer(proxyRes)) pool.reportDraining(attempt.upstream);
      handler.onResponse(proxyRes);
    },
    onError(error) {
      // A client that left says nothing about the upstream.
      if (!exchange.res.destroyed) reportFailure(pool, exchange, error);
      handler.onError(error);
    },
  });
}

/** Counts `error` against the exchange's upstream when it says something about that upstream (retry-policy.ts). */
export function reportFailure(pool: UpstreamPool, exchange: Exchange, error: unknown): void {
  const upstream = exchange.attempt?.upstream;
  if (upstream !== undefined && countsAgainstUpstream(exchange, toUpstreamError(error, upstream.url), error)) {
    pool.reportFailure(upstream, errorCode(error));
  }
}
