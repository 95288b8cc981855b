/**
 * The seam between the proxy's passes and the transport that carries a request upstream. An
 * engine turns the edge's header section into its own form once per exchange, then sends each
 * attempt and reports what happened to the attempt's handler (dispatch.ts). Everything else
 * (admission, timeouts, retries, the response) is the same for every engine.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ProxyConfig } from '../config.js';
import type { AttemptHandler } from '../dispatch.js';
import type { Attempt } from '../exchange.js';
import type { EdgeFacts } from '../headers.js';

/** node's own http.request (plain, the default) or http-proxy (the package the mission names): the schema's. */
export type EngineName = ProxyConfig['engine'];

export interface ProxyEngine {
  readonly name: EngineName;
  /**
   * The edge's request head for one exchange, to go to `target` under an upstream's base path
   * (byte for byte as the client sent it: handler.ts upstreamTarget), in this engine's form (headers.ts: hop-by-hop
   * fields dropped, the web tier's framing, the edge's fields). Throws on a framing node should
   * have refused (two Content-Length fields).
   */
  open(req: IncomingMessage, res: ServerResponse, target: string, facts: EdgeFacts): EngineExchange;
  /** Stops the engine's own machinery (the pooled agent is the handler's). */
  close(): void;
  // `Upgrade: websocket` (RFC 6455 §4.1, RFC 9110 §7.8) does not go through an engine: proxy/upgrade.ts
  // carries it for both, on node's own client and its 'upgrade' event, with the same admission
  // and edge headers. http-proxy's ws passes are where its crash reports live (http-proxy#1468, #1439).
}

/** An engine's per-exchange state (exchange.outgoing): its transport details stay behind it. */
export interface EngineExchange {
  /** Sends one attempt to `attempt.upstream` and reports to `handler`; never throws. */
  send(attempt: Attempt, handler: AttemptHandler): void;
  /**
   * The body was read whole (request-buffering.ts): from now on the request is framed by this
   * exact length (RFC 9112 §6.2), whatever framing the client used.
   */
  reframe(length: number): void;
}
