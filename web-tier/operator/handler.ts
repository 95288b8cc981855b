/**
 * The operator's endpoints on the web tier, one handler for everything under `/-/`:
 *   /-/metrics          Prometheus text (the web tier's own registry)
 *   /-/status           the live status page (HTML + /-/status.js + /-/status.css, no build step)
 *   /-/status.json      the same data for scripts
 *   /-/status/events    Server-Sent Events carrying that data every second
 * They show upstream addresses, pids and request ids, so only loopback peers are answered
 * unless `isAllowedPeer` says otherwise, and only under a Host that names this box (a loopback
 * name, an IP literal or WEB_OPERATOR_HOSTS: `isAllowedHost`, common/operator-host.ts), so a
 * page on a DNS-rebinding name cannot read them through a browser on an allowed peer (421).
 * server.ts checks both before dispatching here (and before /-/reload).
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Logger } from '../../common/logger.js';
import { packageRoot } from '../config.js';
import type { RequestContext, RequestHandler } from '../context.js';
import { sendError, TwotierError } from '../error-response.js';
import { isOperatorHost } from '../../common/operator-host.js';
import type { WorkerFetcherOptions } from './app-workers.js';
import type { WebMetrics } from './metrics.js';
import { createStatusEvents } from './status-events.js';
import { createStatusSource, type OperatorConfig, type Placement, type StatusSource } from './status-data.js';
import type { UpstreamSource } from './upstream-view.js';
import { renderStatusHtml } from './page-render.js';

export const OPERATOR_PREFIX = '/-/';

export interface OperatorOptions {
  config: OperatorConfig;
  logger: Logger;
  metrics: WebMetrics;
  /** The proxy handler (its upstreamStates() and, when present, stats()); absent in embedded/CGI modes. */
  proxy?: UpstreamSource;
  /** From the deploy placement; derived from the upstream addresses when absent. */
  placement?: Placement;
  /** Directory holding the bench's latest.json (bench/results); absent: no bench section. */
  benchResultsDir?: string;
  /** Default: loopback peers only (127.0.0.0/8, ::1). */
  isAllowedPeer?: (address: string) => boolean;
  /** Default: loopback names and IP literals only (no WEB_OPERATOR_HOSTS). */
  isAllowedHost?: (host: string | undefined) => boolean;
  /** SSE push interval; 1000 ms by default. */
  eventsIntervalMs?: number;
  /** Open /-/status/events streams at most (each holds a socket); 32 by default. */
  maxStreams?: number;
  workers?: WorkerFetcherOptions;
  /** Where status.html/.js/.css live; web-tier/operator/page under the package root by default. */
  pageDir?: string;
}

export interface OperatorHandler extends RequestHandler {
  readonly status: StatusSource;
  /** Open /-/status/events streams. */
  streams(): number;
}

const ALLOW = 'GET, HEAD, OPTIONS';
/** The page loads only its own script and style and talks only to its own origin. */
const PAGE_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

export function isOperatorPath(pathname: string): boolean {
  return pathname.startsWith(OPERATOR_PREFIX);
}

export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
  return plain === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(plain);
}

interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

function loadAssets(dir: string): ReadonlyMap<string, Asset> {
  const asset = (file: string, type: string): Asset => ({ type, body: readFileSync(join(dir, file)) });
  return new Map([
    ['/-/status', asset('status.html', 'text/html; charset=utf-8')],
    ['/-/status.js', asset('status.js', 'text/javascript; charset=utf-8')],
    ['/-/status.css', asset('status.css', 'text/css; charset=utf-8')],
  ]);
}

function send(req: IncomingMessage, res: ServerResponse, type: string, body: string | Buffer): void {
  res.writeHead(200, { ...PAGE_HEADERS, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : body);
}

export function createOperatorHandler(options: OperatorOptions): OperatorHandler {
  const { logger, metrics } = options;
  const allowed = options.isAllowedPeer ?? isLoopback;
  const allowedHost = options.isAllowedHost ?? isOperatorHost;
  const assets = loadAssets(options.pageDir ?? join(packageRoot(), 'web-tier', 'operator', 'page'));
  metrics.watchUpstreams(options.proxy);
  const status = createStatusSource({
    config: options.config,
    metrics,
    ...(options.proxy === undefined ? {} : { proxy: options.proxy }),
    ...(options.placement === undefined ? {} : { placement: options.placement }),
    ...(options.benchResultsDir === undefined ? {} : { benchResultsDir: options.benchResultsDir }),
    ...(options.workers === undefined ? {} : { workers: options.workers }),
  });
  const events = createStatusEvents({
    source: status,
    logger,
    ...(options.eventsIntervalMs === undefined ? {} : { intervalMs: options.eventsIntervalMs }),
    ...(options.maxStreams === undefined ? {} : { maxClients: options.maxStreams }),
  });

  function fail(res: ServerResponse, ctx: RequestContext, error: unknown): void {
    ctx.logger.error({ err: error }, 'operator endpoint failed');
    sendError(res, ctx, new TwotierError('WEB_ERR_INTERNAL', 'operator endpoint failed', { cause: error }));
  }

  function handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void {
    ctx.servedBy = 'web';
    if (!allowed(req.socket.remoteAddress ?? '')) {
      ctx.logger.info({ peer: req.socket.remoteAddress }, 'operator endpoint refused to a non-loopback peer');
      sendError(res, ctx, new TwotierError('WEB_ERR_FORBIDDEN', 'operator endpoints are loopback-only'));
      return;
    }
    if (!allowedHost(req.headers.host)) {
      // RFC 9110 §15.5.20: this Host is not one the operator endpoints answer for (DNS rebinding).
      ctx.logger.info({ host: req.headers.host }, 'operator endpoint refused: Host is not an operator name');
      sendError(res, ctx, new TwotierError('WEB_ERR_MISDIRECTED', 'Host is not an operator name'));
      return;
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { Allow: ALLOW, 'Cache-Control': 'no-store' });
      res.end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      // RFC 9110 §15.5.6: a 405 carries Allow.
      sendError(res, ctx, new TwotierError('WEB_ERR_METHOD_NOT_ALLOWED', 'operator endpoints are read-only', { headers: { Allow: ALLOW } }));
      return;
    }
    if (ctx.pathname === '/-/status') {
      // First paint without JavaScript: the page arrives with this snapshot's figures in it.
      const template = (assets.get('/-/status') as Asset).body.toString('utf8');
      status.snapshot().then(
        (snapshot) => send(req, res, 'text/html; charset=utf-8', renderStatusHtml(template, snapshot)),
        (error: unknown) => fail(res, ctx, error),
      );
      return;
    }
    const asset = assets.get(ctx.pathname);
    if (asset !== undefined) {
      send(req, res, asset.type, asset.body);
      return;
    }
    switch (ctx.pathname) {
      case '/-/metrics':
        metrics.text().then((text) => send(req, res, metrics.contentType, text), (error: unknown) => fail(res, ctx, error));
        return;
      case '/-/status.json':
        status.snapshot().then(
          (snapshot) => send(req, res, 'application/json; charset=utf-8', `${JSON.stringify(snapshot, null, 2)}\n`),
          (error: unknown) => fail(res, ctx, error),
        );
        return;
      case '/-/status/events':
        events.attach(req, res);
        return;
      default:
        sendError(res, ctx, new TwotierError('WEB_ERR_NOT_FOUND', 'no such operator endpoint'));
    }
  }

  return {
    status,
    streams: () => events.clients(),
    handle(req, res, ctx) {
      try {
        handle(req, res, ctx);
      } catch (error) {
        fail(res, ctx, error);
      }
    },
    async close() {
      events.close();
      status.close();
    },
  };
}
