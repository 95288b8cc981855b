/**
 * One pino line per request, written when the response finishes (or the connection closes
 * first), so a reader of the log sees which part answered: `servedBy` is web | static | app |
 * cgi | embedded (the logger's own `tier` field says which process wrote the line, "web").
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestContext } from './context.js';

export interface AccessLogLine {
  method: string;
  url: string;
  status: number;
  /** Body bytes written (headers not counted; 0 for HEAD/304). */
  bytes: number;
  ms: number;
  servedBy: RequestContext['servedBy'];
  upstream?: string;
  /** True when the client or server cut the connection before the response was complete. */
  aborted?: true;
}

function chunkLength(chunk: unknown, encoding: unknown): number {
  if (chunk === undefined || chunk === null || typeof chunk === 'function') return 0;
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

/**
 * Counts body bytes as handlers write them (static `end(buffer)`, streamed `pipe`, http-proxy
 * `write`) and logs once. Counting at the response, not the socket, keeps pipelined
 * responses on one connection apart.
 */
export function attachAccessLog(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, url: string): void {
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
    const line: AccessLogLine = {
      method: req.method ?? '',
      url,
      status: res.headersSent ? res.statusCode : 0,
      bytes: req.method === 'HEAD' ? 0 : bytes,
      ms: Number((process.hrtime.bigint() - ctx.startedAt) / 1000n) / 1000,
      servedBy: ctx.servedBy,
    };
    if (ctx.upstream !== undefined) line.upstream = ctx.upstream;
    if (aborted) line.aborted = true;
    ctx.logger.info(line, 'request');
  };
  res.once('finish', () => log(false));
  res.once('close', () => log(!res.writableFinished));
}
