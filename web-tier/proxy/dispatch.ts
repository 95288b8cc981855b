/**
 * One attempt's way to an upstream and back, as a chain in undici's shape (lib/interceptor/):
 * an interceptor takes the next dispatch and returns one that wraps the attempt's handler, so
 * retries and timeouts live around the engine instead of in fields of the exchange. Events flow
 * from the engine outwards: engine → current-attempt guard → interceptors (innermost first) →
 * forward.ts.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Attempt, Exchange } from './exchange.js';

/** What an engine reports about one attempt. */
export interface AttemptHandler {
  /** The upstream request exists and its head is not written yet. */
  onRequest(proxyReq: ClientRequest): void;
  /** The upstream's response head arrived. */
  onResponse(proxyRes: IncomingMessage): void;
  /** The attempt failed before a response head (refused, reset, timed out, or the request could not be made). */
  onError(error: unknown): void;
}

export type Dispatch = (exchange: Exchange, attempt: Attempt, handler: AttemptHandler) => void;
export type Interceptor = (next: Dispatch) => Dispatch;

/** `interceptors` around the engine's send, the first one outermost (it sees events last), like undici's compose. */
export function compose(interceptors: readonly Interceptor[]): Dispatch {
  let dispatch = guardAttempt(engineSend);
  for (let index = interceptors.length - 1; index >= 0; index -= 1) dispatch = (interceptors[index] as Interceptor)(dispatch);
  return dispatch;
}

/** The innermost dispatch: the exchange's engine sends the attempt. */
const engineSend: Dispatch = (exchange, attempt, handler) => exchange.outgoing.send(attempt, handler);

/**
 * Only the exchange's current attempt, while it waits for its answer, reports anything: events of
 * an attempt that a retry replaced, or of one the exchange stopped waiting for (the client left,
 * the web tier answered), are dropped, and a late response is discarded.
 */
function guardAttempt(send: Dispatch): Dispatch {
  return (exchange, attempt, handler) => {
    const live = (): boolean => exchange.attempt === attempt && exchange.phase === 'dispatched';
    send(exchange, attempt, {
      onRequest: (proxyReq) => handler.onRequest(proxyReq),
      onResponse(proxyRes) {
        if (live()) handler.onResponse(proxyRes);
        else proxyRes.destroy();
      },
      onError(error) {
        if (live()) handler.onError(error);
      },
    });
  };
}
