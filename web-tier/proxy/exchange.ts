/**
 * The state of the proxy: what every exchange shares (the forwarder) and what one request
 * carries through its passes (the exchange). Types only; forward.ts moves them along.
 */
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type http from 'node:http';
import type { Readable } from 'node:stream';
import type httpProxy from 'http-proxy';
import type { RequestContext } from '../context.js';
import type { Admission, Ticket } from './admission.js';
import type { BodyReplay } from './body-replay.js';
import type { RequestFraming } from './headers.js';
import type { Upstream, UpstreamPool } from './pool.js';
import type { RetryBudget } from './retry-budget.js';

/** node's own http.request (plain, the default) or http-proxy (the package the mission names), with the same passes. */
export type ProxyEngine = 'http-proxy' | 'plain';

export interface ForwardSettings {
  readonly engine: ProxyEngine;
  readonly connectTimeoutMs: number;
  readonly responseTimeoutMs: number;
  readonly bodyIdleTimeoutMs: number;
  readonly retries: boolean;
}

/** Pool-wide counters for operators and metrics. */
export interface ForwardCounters {
  retries: number;
  retryBudgetExhausted: number;
  queueTimeouts: number;
  queueFull: number;
}

/** What every exchange shares: the proxy, the pooled agent, the pool and its queue, the settings. */
export interface Forwarder {
  readonly proxy: httpProxy;
  readonly agent: http.Agent;
  /** `agent` behind one request hook for all exchanges (see createForwarderAgent). */
  readonly hookedAgent: http.Agent;
  /** The exchange whose proxy.web() call is on the stack: http-proxy creates its request synchronously. */
  dispatching: Exchange | undefined;
  readonly pool: UpstreamPool;
  readonly admission: Admission;
  readonly budget: RetryBudget;
  readonly counters: ForwardCounters;
  readonly settings: ForwardSettings;
}

export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly ctx: RequestContext;
  /** The upstream of the current attempt; undefined while waiting for a slot. */
  upstream: Upstream | undefined;
  /** The upstream whose slot this exchange holds, until the attempt ends. */
  slot: Upstream | undefined;
  ticket: Ticket | undefined;
  /** The request-target sent upstream, after the upstream's base path. */
  readonly target: string;
  /**
   * How the web tier frames the body it sends upstream: the client's request's (headers.ts
   * requestFraming), then a buffered body's exact length once it has been read whole (body-buffer.ts).
   */
  framing: RequestFraming;
  /** The plain engine's request header section (headers.ts buildRequestHeaderList); http-proxy reads req.headers. Framing replaced once a body is buffered. */
  headerList: string[] | undefined;
  readonly hasBody: boolean;
  /**
   * The request body through the limit counter (and the replay copy) when it streams; undefined
   * without a body, and until a buffered body has been read whole (then a stream of the copy).
   */
  body: Readable | undefined;
  /** Where a retry's body comes from: the buffered copy, or a streamed body's bounded copy. */
  readonly recorder: BodyReplay | undefined;
  /** The body a retry sends. */
  replayBody: Readable | undefined;
  /** 1, then 2 once a retry is decided: events of an older attempt are ignored. */
  attempts: number;
  sentAt: number;
  proxyReq: ClientRequest | undefined;
  /** The upstream's response head arrived: nothing may be retried after this. */
  responded: boolean;
  /** The client got (or will get) its answer, or is gone: later errors are only logged. */
  settled: boolean;
  clientGone: boolean;
  timers: NodeJS.Timeout[];
}
