/**
 * The timers of one attempt, as an interceptor around dispatch: each fires the attempt's onError
 * with an UpstreamTimeoutError, and the interceptors outside it decide what that means (retry,
 * answer 504). The body-idle watch runs later, on a response already under way, where the only
 * answer left is to cut it.
 */
import type { IncomingMessage } from 'node:http';
import type { Interceptor } from '../dispatch.js';
import { UpstreamTimeoutError, type TimeoutPhase } from '../errors.js';
import type { ForwardConfig } from '../config.js';

/**
 * Connect timeout from the socket's assignment until it connects; response timeout from the
 * request being fully sent until the response head (nginx's proxy_read_timeout: a slow upload
 * is the client's time, bounded by the server's requestTimeout, not the app's). Both answer 504.
 * The timers belong to this attempt only: a retry's timers must outlive the failed attempt's 'close'.
 */
export function timeouts(settings: Pick<ForwardConfig, 'connectTimeoutMs' | 'responseTimeoutMs'>): Interceptor {
  const { connectTimeoutMs, responseTimeoutMs } = settings;
  return (next) => (exchange, attempt, handler) => {
    const timers: NodeJS.Timeout[] = [];
    const clear = (): void => {
      for (const timer of timers) clearTimeout(timer);
      timers.length = 0;
    };
    next(exchange, attempt, {
      onRequest(proxyReq) {
        const expire = (phase: TimeoutPhase, ms: number): void => {
          if (exchange.attempt !== attempt || exchange.phase !== 'dispatched') return;
          const error = new UpstreamTimeoutError(phase, ms);
          // Answer first: a request still queued in the agent reports its error only when a socket frees up.
          handler.onError(error);
          proxyReq.destroy(error);
        };
        proxyReq.once('socket', (socket) => {
          if (!socket.connecting) return;
          const timer = setTimeout(expire, connectTimeoutMs, 'connect', connectTimeoutMs);
          timers.push(timer);
          socket.once('connect', () => clearTimeout(timer));
        });
        proxyReq.once('finish', () => {
          if (exchange.attempt === attempt && exchange.phase === 'dispatched') timers.push(setTimeout(expire, responseTimeoutMs, 'response', responseTimeoutMs));
        });
        proxyReq.once('response', clear);
        proxyReq.once('close', clear);
        handler.onRequest(proxyReq);
      },
      onResponse(proxyRes) {
        clear();
        handler.onResponse(proxyRes);
      },
      onError(error) {
        clear();
        handler.onError(error);
      },
    });
  };
}

/** An upstream that stops sending mid-body: the status is already out, so the response can only be cut. */
export function watchBodyIdle(ms: number, proxyRes: IncomingMessage, onStall: () => void): void {
  const timer = setTimeout(() => {
    onStall();
    proxyRes.destroy(new UpstreamTimeoutError('body', ms));
  }, ms);
  proxyRes.on('data', () => timer.refresh());
  proxyRes.once('close', () => clearTimeout(timer));
}
