/**
 * The timers of one attempt. Each fires its callback with an UpstreamTimeoutError; forward.ts
 * decides what that means (answer 504, retry, or cut a response already under way).
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import { UpstreamTimeoutError, type TimeoutPhase } from './errors.js';
import type { Exchange, ForwardSettings } from './exchange.js';

/**
 * Connect timeout from the socket's assignment until it connects; response timeout from the
 * request being fully sent until the response head (nginx's proxy_read_timeout: a slow upload
 * is the client's time, bounded by the server's requestTimeout, not the app's). Both answer 504.
 * The timers belong to this attempt only: a retry's timers must outlive the failed attempt's 'close'.
 */
export function armTimeouts(settings: ForwardSettings, exchange: Exchange, proxyReq: ClientRequest, onExpire: (error: UpstreamTimeoutError) => void): void {
  const { connectTimeoutMs, responseTimeoutMs } = settings;
  const timers: NodeJS.Timeout[] = [];
  exchange.timers = timers;
  const expire = (phase: TimeoutPhase, ms: number): void => {
    if (exchange.proxyReq !== proxyReq) return;
    const error = new UpstreamTimeoutError(phase, ms);
    // Answer first: a request still queued in the agent reports its error only when a socket frees up.
    onExpire(error);
    proxyReq.destroy(error);
  };
  proxyReq.once('socket', (socket) => {
    if (!socket.connecting) return;
    const timer = setTimeout(expire, connectTimeoutMs, 'connect', connectTimeoutMs);
    timers.push(timer);
    socket.once('connect', () => clearTimeout(timer));
  });
  proxyReq.once('finish', () => {
    if (!exchange.responded) timers.push(setTimeout(expire, responseTimeoutMs, 'response', responseTimeoutMs));
  });
  const clear = (): void => {
    for (const timer of timers) clearTimeout(timer);
    timers.length = 0;
  };
  proxyReq.once('response', clear);
  proxyReq.once('close', clear);
}

export function clearTimers(exchange: Exchange): void {
  for (const timer of exchange.timers) clearTimeout(timer);
  exchange.timers.length = 0;
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
