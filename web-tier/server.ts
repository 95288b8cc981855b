/**
 * The web tier's server: wiring only. A listener (server-listener.ts) hands each request to
 * the pipeline (pipeline/handle-request.ts: accept → stamp → limits → classify → connection →
 * dispatch … finish), whose dispatch stage picks exactly one handler from the route table
 * (route-handlers.ts, where WEB_DYNAMIC is decided). `reload(config)` (server-reload.ts) swaps
 * the proxy and limits without dropping a connection; `close()` (server-shutdown.ts) drains.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../common/logger.js';
import type { WebConfig } from './config.js';
import { createOperatorGate } from './operator-gate.js';
import { createWebMetrics } from './operator/metrics.js';
import { createPeerGuard } from './peer-guard.js';
import { createFinish } from './pipeline/finish.js';
import { createRequestPipeline } from './pipeline/handle-request.js';
import { createUpgradePipeline } from './pipeline/handle-upgrade.js';
import { createRefusal } from './pipeline/refusal.js';
import { createInstanceToken } from './proxy/loop-guard.js';
import type { OnReloadRequest } from './reload-endpoint.js';
import { createRouteHandlers } from './route-handlers.js';
import type { WebHandlers } from './server-handlers.js';
import { createHttpListener } from './server-listener.js';
import { createLiveConfig } from './server-live-config.js';
import { createReload, type ReloadResult } from './server-reload.js';
import { createShutdown } from './server-shutdown.js';
import { createAcmeChallenges } from './tls/acme-challenges.js';
import { createTlsListener, type TlsListener } from './tls/listener.js';
import { createUpgradedConnections } from './upgraded-connections.js';

export type { WebHandlers } from './server-handlers.js';
export type { ReloadResult } from './server-reload.js';

export interface WebServerOptions {
  readonly config: WebConfig;
  readonly logger: Logger;
  /** Replace any handler (tests, embedded mode); the rest are built from config. */
  readonly handlers?: Partial<WebHandlers>;
  /** `POST /-/reload`: main's config re-read (the same as SIGHUP); absent → 404. */
  readonly onReloadRequest?: OnReloadRequest;
  /**
   * The deployment's random token, carried in the proxy's Via element so that a request coming
   * back is answered 508 (proxy/loop-guard.ts). A cluster's workers are given their primary's
   * (main.ts); absent, this server is a deployment of its own and makes one.
   */
  readonly instanceToken?: string;
}

export interface WebServer {
  readonly server: Server;
  /** The HTTPS listener (WEB_TLS files|internal), entering the same pipeline; undefined when TLS is off. */
  readonly tls: TlsListener | undefined;
  /** The HTTPS listener's address once listening. */
  readonly tlsAddress: () => AddressInfo | undefined;
  /** Listens on the HTTPS port first (its certificates load first: a bad one fails start), then the plain one. */
  listen(): Promise<AddressInfo>;
  /** Applies a validated config: upstreams, proxy and limits; open connections stay open. */
  reload(next: WebConfig): Promise<ReloadResult>;
  close(): Promise<void>;
}

export function createWebServer(options: WebServerOptions): WebServer {
  const { logger } = options;
  const live = createLiveConfig(options.config);
  const metrics = createWebMetrics();
  // Per-client limits (nginx limit_conn / limit_req): a connection cap at accept, a request rate in the limits stage.
  const peerGuard = createPeerGuard({ settings: live.config.limits.peer, trustedProxies: live.config.server.trustedProxies, logger });
  metrics.watchPeerLimits(peerGuard);
  // Issue 16: upgraded connections, whoever serves them; beside the handlers, so a reload leaves them open.
  const upgrades = createUpgradedConnections({ settings: () => live.config.limits.websocket, trusted: () => live.trusted, logger });
  metrics.watchUpgrades(upgrades);
  const shutdown = createShutdown(() => ({ live, listeners, operator: routes.table.operator, routes, metrics, upgrades }));
  const routes = createRouteHandlers({
    live,
    logger,
    instanceToken: options.instanceToken ?? createInstanceToken(),
    given: options.handlers ?? {},
    hooks: { onCgiSpawn: () => metrics.onCgiSpawn(), onCgiExit: (failed) => metrics.onCgiExit(failed), onStaticCacheLookup: (hit) => metrics.onStaticCacheLookup(hit) },
    draining: () => shutdown.draining,
    operator: (upstreams) => createOperatorGate({ live, logger, metrics, onReloadRequest: options.onReloadRequest, ...(upstreams === undefined ? {} : { upstreams }) }),
  });
  let tlsAddress: AddressInfo | undefined;
  const refusal = createRefusal(() => live.linger);
  const site = createFinish({ logger, metrics, draining: () => shutdown.draining });
  // WEB_TLS=acme: the HTTP-01 tokens of pending orders, answered by the pipeline, added by the TLS listener's ACME client.
  const acmeChallenges = live.config.tls.mode === 'acme' ? createAcmeChallenges() : undefined;
  const handleRequest = createRequestPipeline({
    ...(acmeChallenges === undefined ? {} : { acmeChallenges }),
    httpsPort: () => tlsAddress?.port,
    live,
    logger,
    metrics,
    peerGuard,
    refusal,
    site,
    routes: routes.table,
  });
  // Issue 16: the same stages for an upgrade, then the app route's upgrade (pipeline/handle-upgrade.ts).
  const handleUpgrade = createUpgradePipeline({ httpsPort: () => tlsAddress?.port, live, logger, metrics, peerGuard, refusal, site, routes: routes.table, upgrades, handleRequest });
  const http = createHttpListener({ live, logger, peerGuard, handleRequest, handleUpgrade });
  // Issue 15: the HTTPS listener is the same wiring around https.createServer, the same stages.
  const tls = live.config.tls.mode === 'off' ? undefined : createTlsListener({ live, logger, peerGuard, handleRequest, handleUpgrade }, { tls: () => live.config.tls, serverNames: () => live.config.server.serverNames, logger, ...(acmeChallenges === undefined ? {} : { acmeChallenges }) });
  const listeners = tls === undefined ? [http] : [http, tls];
  return {
    server: http.server,
    reload: createReload({ live, logger, listeners, peerGuard, routes }),
    tls,
    tlsAddress: () => tlsAddress,
    async listen() {
      if (tls !== undefined) tlsAddress = await tls.listen(live.config.server.host, live.config.tls.port);
      const plain = await http.listen(live.config.server.host, live.config.server.port);
      tls?.onPlainListening();
      return plain;
    },
    close: () => shutdown.close(),
  };
}
