/**
 * One pino line per request, written when the response finishes (or the connection closes
 * first), so a reader of the log sees which part answered: `tier` (and its older name
 * `servedBy`) is web | static | app | cgi | embedded; the logger's own `service` field says
 * which process wrote the line ("web").
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestContext, ServedBy } from './context.js';

export interface AccessLogLine {
  /** The request id (X-Request-Id), the field every other line of the request carries too. */
  reqId: string;
  method: string;
  url: string;
  status: number;
  /** Body bytes written (headers not counted; 0 for HEAD/304). */
  bytes: number;
  ms: number;
  /** Who answered (issue 3's contract). */
  tier: ServedBy;
  servedBy: ServedBy;
  upstream?: string;
  /** True when the client or server cut the connection before the response was complete. */
  aborted?: true;
}

/**
 * The access line of a finished (or cut) response. `bytes` are the body bytes the handlers
 * wrote (static `end(buffer)`, streamed `pipe`, http-proxy `write`), counted at the response
 * (response.ts) so pipelined responses on one connection stay apart. Built only when info
 * lines are logged at all.
 */
export function accessLine(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, url: string, bytes: number, ms: number): AccessLogLine {
  const line: AccessLogLine = {
    reqId: ctx.requestId,
    method: req.method ?? '',
    url,
    status: res.headersSent ? res.statusCode : 0,
    bytes,
    ms,
    tier: ctx.servedBy,
    servedBy: ctx.servedBy,
  };
  if (ctx.upstream !== undefined) line.upstream = ctx.upstream;
  if (!res.writableFinished) line.aborted = true;
  return line;
}
