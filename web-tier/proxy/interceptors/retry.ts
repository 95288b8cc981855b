/**
 * Retry as an interceptor around dispatch: an attempt that failed before any response byte, or
 * was turned away by a draining upstream, is tried again on an upstream not tried yet when sending
 * it again is safe (retry-policy.ts), up to proxy.nextUpstreamTries attempts in all (nginx
 * proxy_next_upstream_tries: each server at most once per request). The second attempt may go back
 * to the only upstream there is (the keep-alive race: it opens a fresh connection); later ones
 * only to untried upstreams. A body is resent only from the bounded replay copy, and the retry
 * budget has the last word.
 */
import type { Readable } from 'node:stream';
import type { Interceptor } from '../dispatch.js';
import { errorCode, upstreamUnavailable } from '../errors.js';
import type { Attempt, Exchange, ForwardCounters } from '../exchange.js';
import type { Upstream, UpstreamPool } from '../pool.js';
import type { RetryBudget } from '../retry-budget.js';
import { isDrainingAnswer, isSafeToResend } from '../retry-policy.js';

export interface RetryOptions {
  readonly budget: RetryBudget;
  readonly counters: ForwardCounters;
  readonly pool: Pick<UpstreamPool, 'hasUntried'>;
  /** Attempts per request in all (proxy.nextUpstreamTries). */
  readonly maxTries: number;
  /**
   * Queues `attempt` for a slot (forward.ts admit), away from `avoid` when it can; `retryOf` is
   * what the client is answered with when no slot comes.
   */
  readonly admit: (exchange: Exchange, attempt: Attempt, avoid: readonly Upstream[], retryOf: unknown) => void;
}

export function retry(options: RetryOptions): Interceptor {
  return (next) => (exchange, attempt, handler) => next(exchange, attempt, {
    onRequest: (proxyReq) => handler.onRequest(proxyReq),
    onResponse(proxyRes) {
      if (isDrainingAnswer(proxyRes) && retryElsewhere(options, exchange, attempt, 'draining')) proxyRes.resume();
      else handler.onResponse(proxyRes);
    },
    onError(error) {
      if (exchange.res.destroyed || !retryElsewhere(options, exchange, attempt, error)) handler.onError(error);
    },
  });
}

/** Starts the next attempt, or says no: only while tries are left (and an untried upstream after the second), when safe, replayable and in budget. */
function retryElsewhere(options: RetryOptions, exchange: Exchange, failedAttempt: Attempt, error: unknown): boolean {
  const failed = failedAttempt.upstream;
  if (failed === undefined || failedAttempt.number >= options.maxTries) return false;
  const tried = [...failedAttempt.tried, failed];
  if (failedAttempt.number >= 2 && !options.pool.hasUntried(tried)) return false;
  const draining = error === 'draining';
  if (!isSafeToResend(exchange, error)) return false;
  let replay: Readable | undefined;
  if (exchange.hasBody) {
    replay = exchange.recorder?.replay();
    if (replay === undefined) return false;
  }
  if (!options.budget.tryRetry()) {
    options.counters.retryBudgetExhausted += 1;
    exchange.ctx.logger.warn({ upstream: failed.url }, 'retry budget exhausted; not retrying');
    return false;
  }
  options.counters.retries += 1;
  failedAttempt.proxyReq?.destroy();
  const cause = draining ? 'DRAINING' : errorCode(error);
  exchange.ctx.logger.info({ code: cause, upstream: failed.url, attempt: failedAttempt.number + 1 }, 'upstream failed before answering; retrying');
  const next: Attempt = { number: failedAttempt.number + 1, tried, upstream: failed, holdsSlot: false, ticket: undefined, body: replay, proxyReq: undefined, sentAt: 0 };
  options.admit(exchange, next, tried, draining ? upstreamUnavailable(1) : error);
  return true;
}
