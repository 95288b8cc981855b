/**
 * Draining, then closing (SIGTERM, SIGINT, a test's teardown): from the first call every
 * response says `Connection: close` and /readyz 503 "draining"; the operator's event streams
 * end; the listeners stop accepting and close idle connections; in-flight requests get
 * shutdownTimeoutMs before their sockets are cut; then the handlers close. Once, however often called.
 */
import type { RequestHandler } from './context.js';
import type { WebMetrics } from './operator/metrics.js';
import type { RouteHandlers } from './route-handlers.js';
import type { Listener } from './server-listener.js';
import type { LiveConfig } from './server-live-config.js';
import type { UpgradedConnections } from './upgraded-connections.js';

export interface Shutdown {
  /** True from the first close() on. */
  readonly draining: boolean;
  close(): Promise<void>;
}

export interface ShutdownParts {
  readonly live: LiveConfig;
  readonly listeners: readonly Listener[];
  readonly operator: RequestHandler;
  readonly routes: Pick<RouteHandlers, 'close'> & Partial<Pick<RouteHandlers, 'drain'>>;
  readonly metrics: Pick<WebMetrics, 'close'>;
  /** Upgraded connections: node's server.close() waits for them, so they get the same bound, then are closed. */
  readonly upgrades?: Pick<UpgradedConnections, 'close'>;
}

/** `parts` is read at close(): the server is wired after the flag exists (responses and /readyz read it). */
export function createShutdown(parts: () => ShutdownParts): Shutdown {
  let draining = false;
  let closing: Promise<void> | undefined;
  return {
    get draining() {
      return draining;
    },
    close() {
      draining = true;
      closing ??= (async () => {
        const { live, listeners, operator, routes, metrics, upgrades } = parts();
        // Open /-/status/events streams are in-flight requests: end them first, or they hold the drain.
        await operator.close();
        // The embedded app's WebSockets get their 1001 and its event streams end now, as an app
        // tier worker's do when it drains; otherwise they would hold the drain for the whole grace
        // and then be cut (1006).
        routes.drain?.();
        const graceMs = live.config.server.shutdownTimeoutMs;
        await Promise.all([...listeners.map((listener) => listener.close(graceMs)), upgrades?.close(graceMs)]);
        await routes.close();
        metrics.close();
      })();
      return closing;
    },
  };
}
