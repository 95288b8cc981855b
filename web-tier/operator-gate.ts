/**
 * The operator route (`/-/…`): who may reach the operator's endpoints at all, checked before
 * any of them answers — a peer in WEB_OPERATOR_ALLOW, not forwarded by a proxy, under an
 * operator Host — then `/-/reload` (reload-endpoint.ts) or the operator handler
 * (operator/handler.ts: metrics, status page, events).
 */
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import type { Logger } from '../common/logger.js';
import { packageRoot } from './config.js';
import type { RequestHandler } from './context.js';
import { sendError, TwotierError } from './error-response.js';
import { createOperatorHandler } from './operator/handler.js';
import type { WebMetrics } from './operator/metrics.js';
import type { UpstreamSource } from './operator/upstream-view.js';
import { handleReload, RELOAD_PATH, type OnReloadRequest } from './reload-endpoint.js';
import type { LiveConfig } from './server-live-config.js';

/** A request a proxy forwarded on someone else's behalf (RFC 7239, and the de-facto X-Forwarded-For / X-Real-IP). */
function forwardedByProxy(req: IncomingMessage): boolean {
  const { headers } = req;
  return headers['x-forwarded-for'] !== undefined || headers['forwarded'] !== undefined || headers['x-real-ip'] !== undefined;
}

export interface OperatorGateOptions {
  readonly live: LiveConfig;
  readonly logger: Logger;
  readonly metrics: WebMetrics;
  /** The proxy's upstream view (read live: a reload swaps the proxy); absent in embedded and CGI modes. */
  readonly upstreams?: UpstreamSource;
  readonly onReloadRequest?: OnReloadRequest | undefined;
}

export function createOperatorGate(options: OperatorGateOptions): RequestHandler {
  const { live, onReloadRequest } = options;
  const operator = createOperatorHandler({
    config: { get dynamic() { return live.config.server.dynamic; }, get upstreams() { return live.config.proxy.upstreams; } },
    logger: options.logger.child({ component: 'operator' }),
    metrics: options.metrics,
    ...(options.upstreams === undefined ? {} : { proxy: options.upstreams }),
    benchResultsDir: join(packageRoot(), 'bench', 'results'),
    isAllowedPeer: (address) => live.allowPeer(address),
    isAllowedHost: (host) => live.allowHost(host),
  });
  return {
    handle(req, res, ctx) {
      if (!live.allowPeer(req.socket.remoteAddress ?? '')) {
        ctx.logger.info({ peer: req.socket.remoteAddress, code: 'WEB_ERR_FORBIDDEN' }, 'operator endpoint refused (WEB_OPERATOR_ALLOW)');
        sendError(res, ctx, new TwotierError('WEB_ERR_FORBIDDEN', 'peer not in operatorAllow'));
        return;
      }
      if (forwardedByProxy(req)) {
        // A proxy on the box (TLS termination in front, trusted or not) connects from loopback and,
        // with nginx's default Host $proxy_host, names an IP literal: both checks above pass for
        // any remote client it forwards. The app tier refuses forwarded requests the same way
        // (app-tier/operator-access.ts); the operator reaches these endpoints directly.
        ctx.logger.info({ peer: req.socket.remoteAddress, code: 'WEB_ERR_FORBIDDEN' }, 'operator endpoint refused (forwarded by a proxy)');
        sendError(res, ctx, new TwotierError('WEB_ERR_FORBIDDEN', 'operator endpoints are not answered through a proxy'));
        return;
      }
      if (!live.allowHost(req.headers.host)) {
        // DNS rebinding: a browser on an allowed peer, sent here by a page on the attacker's name.
        ctx.logger.info({ host: req.headers.host, code: 'WEB_ERR_MISDIRECTED' }, 'operator endpoint refused (Host not loopback, an IP address or WEB_OPERATOR_HOSTS)');
        sendError(res, ctx, new TwotierError('WEB_ERR_MISDIRECTED', 'Host is not an operator name'));
        return;
      }
      if (ctx.pathname === RELOAD_PATH) handleReload(req, res, ctx, onReloadRequest);
      else operator.handle(req, res, ctx);
    },
    // Open /-/status/events streams are in-flight requests: the shutdown ends them first, or they hold the drain.
    close: () => operator.close(),
  };
}
