/**
 * The state of the proxy: what every exchange shares (the forwarder), what one request carries
 * through its passes (the exchange) and what one try at an upstream carries (the attempt). Types
 * only; forward.ts moves them along, phase.ts says where an exchange may go next.
 */
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { ForwardConfig } from './config.js';
import type { RequestContext } from '../context.js';
import type { Admission, Ticket } from './admission.js';
import type { BodyReplay } from './body-replay.js';
import type { Dispatch } from './dispatch.js';
import type { EngineExchange, ProxyEngine } from './engines/engine.js';
import type { Phase } from './phase.js';
import type { UpstreamPool, Upstream } from './pool.js';
import type { RetryBudget } from './retry-budget.js';

/** Pool-wide counters for operators and metrics. */
export interface ForwardCounters {
  retries: number;
  retryBudgetExhausted: number;
  queueTimeouts: number;
  queueFull: number;
}

/** What every exchange shares: the engine, the pool and its queue, the dispatch chain, the settings. */
export interface Forwarder {
  readonly engine: ProxyEngine;
  readonly pool: UpstreamPool;
  readonly admission: Admission;
  readonly budget: RetryBudget;
  readonly counters: ForwardCounters;
  readonly settings: ForwardConfig;
  /** The engine's send behind the interceptors (timeouts, passive health, retry): see dispatch.ts. */
  readonly send: Dispatch;
}

export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly ctx: RequestContext;
  /** Where the exchange is in its life; changed only through phase.ts moveTo. */
  phase: Phase;
  /** The engine's own form of this request (its head and framing), made once. */
  readonly outgoing: EngineExchange;
  readonly hasBody: boolean;
  /** Where a retry's body comes from: the buffered copy, or a streamed body's bounded copy. */
  readonly recorder: BodyReplay | undefined;
  /** The latest attempt; undefined until the exchange first queues for a slot. */
  attempt: Attempt | undefined;
}

/** One try at an upstream: a slot, one upstream request, its answer. A retry is a new attempt. */
export interface Attempt {
  /** 1, then 2, 3 … for retries, up to proxy.nextUpstreamTries (logged as `attempts`). */
  readonly number: number;
  /** The upstreams earlier attempts of this request went to: a retry avoids them. */
  readonly tried: readonly Upstream[];
  /** The upstream this attempt goes to; a retry shows the failed one until it is admitted elsewhere. */
  upstream: Upstream | undefined;
  /** Whether this attempt holds a slot of `upstream`: from admission until its answer's body ends or it fails. */
  holdsSlot: boolean;
  /** Its place in the queue while it waits for a slot. */
  ticket: Ticket | undefined;
  /** The body it sends: the request's (through the limit counter), or a replay of it. */
  readonly body: Readable | undefined;
  proxyReq: ClientRequest | undefined;
  sentAt: number;
}
