/**
 * A reload (SIGHUP, POST /-/reload): a validated config applied without dropping a connection.
 * Keys read only at start-up keep their old values and are reported as needing a restart; the
 * limits, trusted proxies and operator access apply to the next request; node's timeouts to
 * the next connection; a new proxy or CGI gateway takes new requests while the old one
 * finishes its own.
 */
import type { Logger } from '../common/logger.js';
import type { WebConfig } from './config.js';
import { planReload } from './config-reload.js';
import type { PeerGuard } from './peer-guard.js';
import type { RouteHandlers } from './route-handlers.js';
import type { Listener } from './server-listener.js';
import type { LiveConfig } from './server-live-config.js';

export interface ReloadResult {
  /** Keys whose new values are in use. */
  readonly applied: readonly string[];
  /** Keys that changed but are read only at start-up (kept at their old values). */
  readonly needRestart: readonly string[];
}

export interface ReloadParts {
  readonly live: LiveConfig;
  readonly logger: Logger;
  readonly listeners: readonly Listener[];
  readonly peerGuard: Pick<PeerGuard, 'configure'>;
  readonly routes: Pick<RouteHandlers, 'app' | 'rebuild'>;
}

export function createReload(parts: ReloadParts): (next: WebConfig) => Promise<ReloadResult> {
  const { live, logger, listeners, peerGuard, routes } = parts;
  return async function reload(next) {
    const previous = live.config;
    const plan = planReload(previous, next);
    live.apply(plan.config);
    const config = live.config;
    for (const listener of listeners) listener.configure(live.limits);
    peerGuard.configure(config.limits.peer, config.server.trustedProxies);
    routes.app.current.reconfigure?.(config);
    // The old handlers finish their requests in the background; the reload itself is done.
    void routes.rebuild(previous, config).catch((error: unknown) => logger.error({ err: error }, 'closing a retired handler failed'));
    return { applied: plan.applied, needRestart: plan.needRestart };
  };
}
