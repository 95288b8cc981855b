/**
 * Active health checks: `GET /readyz` on every upstream each interval, on a connection of its own
 * (a check never takes a client's slot or pooled socket). 2xx → in rotation; 503 (the app tier's
 * readyz while starting or draining) → out, as "draining", before a single client request fails
 * there; anything else, a refused connect or a timeout → out, as "down". Back in on the next 2xx;
 * an upstream out of rotation is checked four times as often.
 * Like Caddy's active + passive health, both must agree for an upstream to get traffic.
 */
import http from 'node:http';
import https from 'node:https';
import type { Logger } from '../../common/logger.js';
import type { ActiveHealthConfig } from './config.js';
import { errorCode } from './errors.js';
import type { CheckResult, Upstream, UpstreamPool } from './pool.js';
import type { UpstreamTlsOptions } from './upstream-tls.js';

export interface HealthChecker {
  /** Checks every upstream now; resolves when all have answered or timed out. */
  checkAll(): Promise<void>;
  close(): void;
}

/** Extra fresh-connection checks after a draining answer before the address is taken out. */
const DRAINING_RECHECKS = 2;

function verdict(status: number): CheckResult {
  if (status >= 200 && status < 300) return 'up';
  return status === 503 ? 'draining' : 'down';
}

function checkOne(upstream: Upstream, options: ActiveHealthConfig, tls: UpstreamTlsOptions | undefined): Promise<{ result: CheckResult; reason?: string }> {
  return new Promise((resolve) => {
    const url = new URL(upstream.basePath + options.path, upstream.origin);
    // agent: false: one short connection per check, closed after it, never a pooled client socket.
    const settings = { agent: false, headers: { 'user-agent': 'twotier-web-health', connection: 'close' }, timeout: options.timeoutMs } as const;
    // Over TLS, verified as client requests are (same CA, same name): an upstream whose certificate
    // fails stays out of rotation with the verify error as its lastError.
    const request = upstream.tls === undefined ? http.get(url, settings) : https.get(url, { ...settings, servername: upstream.tls.servername, ...(tls?.ca === undefined ? {} : { ca: tls.ca }) });
    request.once('response', (response) => {
      response.resume();
      const result = verdict(response.statusCode ?? 0);
      resolve(result === 'down' ? { result, reason: `HTTP_${response.statusCode ?? 0}` } : { result });
    });
    request.once('timeout', () => request.destroy(Object.assign(new Error('health check timed out'), { code: 'CHECK_TIMEOUT' })));
    request.once('error', (error) => resolve({ result: 'down', reason: errorCode(error) }));
  });
}

export function createHealthChecker(pool: UpstreamPool, options: ActiveHealthConfig, logger: Logger, tls?: UpstreamTlsOptions): HealthChecker {
  let closed = false;
  const running = new Set<Upstream>();

  async function check(upstream: Upstream): Promise<void> {
    // One check per upstream at a time: a slow upstream must not pile up check connections.
    if (closed || running.has(upstream)) return;
    running.add(upstream);
    try {
      let { result, reason } = await checkOne(upstream, options, tls);
      // One address may front several processes (pm2 cluster mode, a node:cluster primary, a
      // service VIP): a 503 says only that the process this connection reached is draining, e.g.
      // one that pm2 is reloading while its replacement already listens. Ask again on fresh
      // connections before the whole address leaves rotation (HAProxy's `fall`: more than one
      // failed check marks a server down); any ready answer keeps it in.
      for (let again = 0; result === 'draining' && again < DRAINING_RECHECKS && !closed; again += 1) {
        ({ result, reason } = await checkOne(upstream, options, tls));
      }
      if (closed) return;
      const before = pool.states().find((state) => state.url === upstream.url)?.state;
      pool.reportCheck(upstream, result, reason);
      const after = pool.states().find((state) => state.url === upstream.url)?.state;
      // Out of rotation now: look again soon rather than a whole interval later.
      if (after !== 'up') dueAt.set(upstream, Math.min(dueAt.get(upstream) ?? 0, Date.now() + tickMs));
      if (before !== after) logger.info({ upstream: upstream.url, from: before, to: after, check: result, reason }, 'upstream state changed');
    } finally {
      running.delete(upstream);
    }
  }

  const checkAll = async (): Promise<void> => {
    await Promise.all(pool.upstreams.map((upstream) => check(upstream)));
  };
  // HAProxy's `inter` / `downinter`: an upstream in rotation is checked every intervalMs, one out
  // of rotation four times as often, so that it is back soon after it is ready again.
  const tickMs = Math.max(1, Math.floor(options.intervalMs / 4));
  const dueAt = new Map(pool.upstreams.map((upstream) => [upstream, Date.now() + options.intervalMs]));
  const tick = (): void => {
    const at = Date.now();
    const states = pool.states();
    pool.upstreams.forEach((upstream, index) => {
      if ((dueAt.get(upstream) ?? 0) > at) return;
      dueAt.set(upstream, at + (states[index]?.healthy === true ? options.intervalMs : tickMs));
      void check(upstream);
    });
  };
  const timer = setInterval(tick, tickMs);
  // A pending check must never keep the process alive on its own.
  timer.unref();

  return {
    checkAll,
    close() {
      closed = true;
      clearInterval(timer);
    },
  };
}
