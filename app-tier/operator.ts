/**
 * The app tier's operator endpoints, answered by the worker adapter before the application:
 * GET /metrics (Prometheus text) and GET /-/workers (JSON summary of the workers). Only
 * loopback and `operatorAllow` peers get them, and never through a proxy; everyone else gets
 * a 404, so the paths look like any other unknown address. An allowed peer must also name this
 * box in Host (a loopback name, an IP literal or one of `operatorHosts`, see
 * common/operator-host.ts); any other Host gets 421, as on the web tier, so a page on a
 * DNS-rebinding name in a browser on the box cannot read them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../common/logger.js';
import { METRICS_CONTENT_TYPE, type OperatorSource } from './metrics-cluster.js';
import { createOperatorAccess } from './operator-access.js';
import { createOperatorHostCheck } from '../common/operator-host.js';
import { ERROR_CATALOGUE, type ErrorCode } from '../common/errors.js';

export const OPERATOR_ROUTES: Readonly<Record<string, 'metrics' | 'workers'>> = Object.freeze({ '/metrics': 'metrics', '/-/workers': 'workers' });

export interface OperatorEndpoints {
  /** The route name when `path` is an operator endpoint, else undefined. */
  match(path: string): 'metrics' | 'workers' | undefined;
  handle(req: IncomingMessage, res: ServerResponse, route: 'metrics' | 'workers', log: Logger): void;
}

export interface OperatorEndpointsOptions {
  /** Addresses / CIDR blocks allowed besides loopback (config.operatorAllow). */
  readonly allow: readonly string[];
  /** Host names answered besides loopback names and IP literals (config.operatorHosts). */
  readonly hosts?: readonly string[];
  readonly source: OperatorSource;
}

function send(res: ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function sendError(res: ServerResponse, code: ErrorCode, message: string, headers: Record<string, string> = {}): void {
  send(res, ERROR_CATALOGUE[code], 'application/json; charset=utf-8', JSON.stringify({ error: { code, message } }), headers);
}

export function createOperatorEndpoints(options: OperatorEndpointsOptions): OperatorEndpoints {
  const allowed = createOperatorAccess(options.allow);
  const hostAllowed = createOperatorHostCheck(options.hosts ?? []);
  return {
    match(path) {
      return OPERATOR_ROUTES[path];
    },
    handle(req, res, route, log) {
      req.resume();
      if (!allowed({ remoteAddress: req.socket.remoteAddress, headers: req.headers })) {
        log.warn({ peer: req.socket.remoteAddress, route }, 'operator endpoint refused (not loopback or APP_OPERATOR_ALLOW)');
        sendError(res, 'APP_ERR_NOT_FOUND', 'there is nothing at this address');
        return;
      }
      if (!hostAllowed(req.headers.host)) {
        // RFC 9110 §15.5.20: the request names an origin these endpoints do not answer for.
        log.warn({ peer: req.socket.remoteAddress, host: req.headers.host, route }, 'operator endpoint refused: Host is not a loopback name, an IP address or in APP_OPERATOR_HOSTS');
        sendError(res, 'APP_ERR_MISDIRECTED', 'operator endpoints answer a loopback name, an IP address or APP_OPERATOR_HOSTS as Host');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        sendError(res, 'APP_ERR_METHOD_NOT_ALLOWED', `${req.method ?? ''} is not allowed here; allowed: GET, HEAD`, { Allow: 'GET, HEAD' });
        return;
      }
      const answer = route === 'metrics'
        ? options.source.metrics().then((text) => send(res, 200, METRICS_CONTENT_TYPE, text))
        : options.source.workers().then((report) => send(res, 200, 'application/json; charset=utf-8', JSON.stringify(report)));
      answer.catch((error: unknown) => {
        log.warn({ err: error, route }, 'operator endpoint could not collect');
        if (!res.headersSent) sendError(res, 'APP_ERR_OPERATOR_UNAVAILABLE', 'metrics are not available right now', { 'Retry-After': '1' });
      });
    },
  };
}
