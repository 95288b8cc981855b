/**
 * One pino line per request, written when the response finishes (or the connection closes
 * first), so a reader of the log sees which part answered: `tier` (and its older name
 * `servedBy`) is web | static | app | cgi | embedded; the logger's own `service` field says
 * which process wrote the line ("web").
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestContext, ServedBy } from './context.js';

export interface AccessLogLine {
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

/** Called once per request, after its access line is written (metrics). */
export type OnLogged = (ctx: RequestContext, res: ServerResponse, bytes: number) => void;

const SERVED_BY: ReadonlySet<string> = new Set<ServedBy>(['web', 'static', 'app', 'cgi', 'embedded']);

function chunkLength(chunk: unknown, encoding: unknown): number {
  if (chunk === undefined || chunk === null || typeof chunk === 'function') return 0;
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

/**
 * Who answered, as the client was told. The proxy sets `ctx.servedBy = 'app'` before the
 * upstream answers, so a 502/503/504 the web tier wrote itself would otherwise be logged as
 * the app's; the X-Served-By header that went out is the truth.
 */
function answeredBy(res: ServerResponse, ctx: RequestContext): ServedBy {
  if (!res.headersSent) return ctx.servedBy;
  const sent = res.getHeader('x-served-by');
  return typeof sent === 'string' && SERVED_BY.has(sent) ? (sent as ServedBy) : ctx.servedBy;
}

/**
 * Counts body bytes as handlers write them (static `end(buffer)`, streamed `pipe`, http-proxy
 * `write`) and logs once. Counting at the response, not the socket, keeps pipelined
 * responses on one connection apart.
 */
export function attachAccessLog(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, url: string, onLogged?: OnLogged): void {
  let bytes = 0;
  const write = res.write;
  const end = res.end;
  res.write = function countedWrite(this: ServerResponse, chunk: unknown, ...rest: unknown[]): boolean {
    bytes += chunkLength(chunk, rest[0]);
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as ServerResponse['write'];
  res.end = function countedEnd(this: ServerResponse, chunk?: unknown, ...rest: unknown[]): ServerResponse {
    bytes += chunkLength(chunk, rest[0]);
    return (end as (...args: unknown[]) => ServerResponse).call(this, chunk, ...rest);
  } as ServerResponse['end'];

  let logged = false;
  const log = (aborted: boolean): void => {
    if (logged) return;
    logged = true;
    ctx.servedBy = answeredBy(res, ctx);
    const body = req.method === 'HEAD' ? 0 : bytes;
    const line: AccessLogLine = {
      method: req.method ?? '',
      url,
      status: res.headersSent ? res.statusCode : 0,
      bytes: body,
      ms: Number((process.hrtime.bigint() - ctx.startedAt) / 1000n) / 1000,
      tier: ctx.servedBy,
      servedBy: ctx.servedBy,
    };
    if (ctx.upstream !== undefined) line.upstream = ctx.upstream;
    if (aborted) line.aborted = true;
    ctx.logger.info(line, 'request');
    onLogged?.(ctx, res, body);
  };
  res.once('finish', () => log(false));
  res.once('close', () => log(!res.writableFinished));
}
