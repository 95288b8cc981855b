/**
 * Stage 2, stamp: the request's identity (issue 7) and its context. The request id is a trusted
 * proxy's valid `X-Request-Id` or a fresh UUID; the response is tracked from here, so even a
 * request the limits refuse gets its access line and its metrics (finish.ts). The target is
 * split once here; the limits read its authority, classify judges its path.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Logger } from '../../common/logger.js';
import { parseTarget } from '../classify.js';
import { WebRequestContext } from '../context.js';
import type { WebMetrics } from '../operator/metrics.js';
import type { ResponseSite } from '../response.js';
import type { LiveConfig } from '../server-live-config.js';
import type { Stage } from './exchange.js';

/** Incoming ids are kept only from trusted proxies, and only when they cannot inject anything into logs or headers. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function peerAddress(req: IncomingMessage): string {
  const address = req.socket.remoteAddress ?? '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** A trusted proxy's valid X-Request-Id, else a fresh UUID. */
export function requestIdFor(req: IncomingMessage, trustedProxies: ReadonlySet<string>): string {
  const incoming = req.headers['x-request-id'];
  if (typeof incoming === 'string' && REQUEST_ID.test(incoming) && trustedProxies.has(peerAddress(req))) return incoming;
  return randomUUID();
}

export function createStamp(parts: { live: LiveConfig; logger: Logger; metrics: Pick<WebMetrics, 'onRequestStart'>; site: ResponseSite }): Stage {
  const { live, logger, metrics, site } = parts;
  return function stamp(exchange) {
    const { req, res } = exchange;
    const rawUrl = req.url ?? '';
    const target = parseTarget(rawUrl);
    exchange.target = target;
    // Until classify normalises it: the path as received (the target as received when it cannot be split).
    exchange.ctx = 'kind' in target
      ? new WebRequestContext(requestIdFor(req, live.trusted), process.hrtime.bigint(), logger, rawUrl.split('?')[0] ?? '', '')
      : new WebRequestContext(requestIdFor(req, live.trusted), process.hrtime.bigint(), logger, target.pathname, target.search);
    metrics.onRequestStart(exchange.ctx);
    res.track(exchange.ctx, site, rawUrl);
    return false;
  };
}
