/**
 * The web tier's own health endpoints. `/healthz` says the process is alive; `/readyz` says
 * whether sending it traffic makes sense: 503 while draining or when no app-tier upstream is
 * healthy (a load balancer in front then stops routing here). Upstream addresses are not
 * shown: this endpoint is public.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestContext, RequestHandler } from './context.js';

export interface Readiness {
  /** False while draining or when the dynamic handler has nowhere to send requests. */
  ready(): boolean;
  /** A short reason when not ready, for the body. */
  reason(): string;
}

const ALLOW = 'GET, HEAD, OPTIONS';

function send(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(req.method === 'HEAD' ? undefined : text);
}

export function createHealthHandler(readiness: Readiness): RequestHandler {
  return {
    handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void {
      ctx.servedBy = 'web';
      if (req.method === 'OPTIONS') {
        res.writeHead(204, { Allow: ALLOW, 'Cache-Control': 'no-store' });
        res.end();
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        // RFC 9110 §15.5.6: a 405 MUST carry Allow.
        send(req, res, 405, { error: { status: 405, code: 'WEB_ERR_METHOD_NOT_ALLOWED', requestId: ctx.requestId } }, { Allow: ALLOW });
        return;
      }
      if (ctx.pathname === '/healthz') {
        send(req, res, 200, { status: 'ok' });
        return;
      }
      if (readiness.ready()) send(req, res, 200, { status: 'ready' });
      else send(req, res, 503, { status: 'unavailable', reason: readiness.reason() }, { 'Retry-After': '5' });
    },
    async close(): Promise<void> {},
  };
}
