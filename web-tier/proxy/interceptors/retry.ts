/**
 * Retry as an interceptor around dispatch: an attempt that failed before any response byte, or
 * was turned away by a draining upstream, is tried once more on another upstream when sending it
 * again is safe (retry-policy.ts). A body is resent only from the bounded replay copy, and the
 * retry budget has the last word.
 */
import type { Readable } from 'node:stream';
import type { Interceptor } from '../dispatch.js';
import { errorCode, upstreamUnavailable } from '../errors.js';
import type { Attempt, Exchange, ForwardCounters } from '../exchange.js';
import type { Upstream } from '../pool.js';
import type { RetryBudget } from '../retry-budget.js';
import { isDrainingAnswer, isSafeToResend } from '../retry-policy.js';

export interface RetryOptions {
  readonly budget: RetryBudget;
  readonly counters: ForwardCounters;
  /**
   * Queues `attempt` for a slot (forward.ts admit), away from `avoid` when it can; `retryOf` is
   * what the client is answered with when no slot comes.
   */
  readonly admit: (exchange: Exchange, attempt: Attempt, avoid: Upstream, retryOf: unknown) => void;
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

/** Starts the second attempt, or says no: only the first attempt is retried, and only when safe, replayable and in budget. */
function retryElsewhere(options: RetryOptions, exchange: Exchange, failedAttempt: Attempt, error: unknown): boolean {
  const failed = failedAttempt.upstream;
  if (failedAttempt.number !== 1 || failed === undefined) return false;
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
  exchange.ctx.logger.info({ code: cause, upstream: failed.url }, 'upstream failed before answering; retrying once');
  const second: Attempt = { number: 2, upstream: failed, holdsSlot: false, ticket: undefined, body: replay, proxyReq: undefined, sentAt: 0 };
  options.admit(exchange, second, failed, draining ? upstreamUnavailable(1) : error);
  return true;
}
