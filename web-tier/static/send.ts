/**
 * Writes one representation of a file: preconditions (→ 304/412), Range (→ 206/416), HEAD, then
 * the body from memory in one writeHead + end(buffer), or streamed from disk when it is too
 * big to hold. Synchronous whenever the body is already in memory, so a hot file costs no
 * promise and no file-system call.
 */
import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestContext } from '../context.js';
import { sendError, TwotierError } from '../error-response.js';
import { evaluatePreconditions, ifRangeAllows } from './conditional.js';
import type { FileCache } from './file-cache.js';
import { decideRange } from './ranges.js';
import type { Representation } from './representation.js';

export interface SendOptions {
  readonly bodies: FileCache;
  /** The file could not be opened after all (deleted since its stat): answer 404 and forget it. */
  readonly onVanished: (res: ServerResponse, ctx: RequestContext, rep: Representation) => void;
  /** Told once per body sent whether it came from memory (operator metrics count hits and misses). */
  readonly onCacheLookup?: ((hit: boolean) => void) | undefined;
}

/** Returns a promise only when the body has to be read first; errors are the caller's to catch. */
export function sendRepresentation(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, rep: Representation, options: SendOptions): Promise<void> | undefined {
  const outcome = evaluatePreconditions(req.headers, rep);
  if (outcome === 'failed') {
    sendError(res, ctx, new TwotierError('WEB_ERR_PRECONDITION_FAILED', 'precondition failed'));
    return undefined;
  }
  if (outcome === 'not-modified') {
    res.writeHead(304, rep.notModifiedList as string[]);
    res.end();
    return undefined;
  }

  const size = rep.file.size;
  const rangeHeader = req.headers.range;
  // RFC 9110 §14.2: Range is only defined for GET; a HEAD gets the 200 headers.
  const range = req.method === 'GET' && rangeHeader !== undefined && ifRangeAllows(req.headers, rep) ? decideRange(size, rangeHeader) : undefined;
  if (range?.kind === 'unsatisfiable') {
    // RFC 9110 §15.5.17: the 416 says how long the representation is.
    sendError(res, ctx, new TwotierError('WEB_ERR_RANGE_NOT_SATISFIABLE', 'range not satisfiable', { headers: { 'Content-Range': `bytes */${size}` } }));
    return undefined;
  }
  const start = range?.kind === 'partial' ? range.start : 0;
  const end = range?.kind === 'partial' ? range.end : size - 1;
  const status = range?.kind === 'partial' ? 206 : 200;
  const headers: Readonly<Record<string, string>> | readonly string[] = status === 200
    ? rep.headerList
    : { ...rep.headers, 'Content-Length': String(end - start + 1), 'Content-Range': `bytes ${start}-${end}/${size}` };

  if (req.method === 'HEAD') {
    res.writeHead(status, headers as Record<string, string> | string[]);
    res.end();
    return undefined;
  }
  const held = options.bodies.get(rep.file);
  options.onCacheLookup?.(held !== undefined);
  if (held !== undefined) {
    writeBuffer(res, status, headers, held, start, end);
    return undefined;
  }
  if (!options.bodies.accepts(rep.file)) {
    streamBody(res, ctx, rep, start, end, status, headers, options);
    return undefined;
  }
  return options.bodies.load(rep.file).then((loaded) => {
    if (loaded !== undefined) writeBuffer(res, status, headers, loaded, start, end);
    else streamBody(res, ctx, rep, start, end, status, headers, options);
  });
}

function writeBuffer(res: ServerResponse, status: number, headers: Readonly<Record<string, string>> | readonly string[], body: Buffer, start: number, end: number): void {
  res.writeHead(status, headers as Record<string, string> | string[]);
  res.end(status === 200 ? body : body.subarray(start, end + 1));
}

/**
 * Streams a file too big to hold. Headers wait for the open to succeed (the file may vanish
 * between stat and open: then a 404, not a 200 with no body); after that, any failure or a
 * short read (the file shrank) cuts the connection, because a response shorter than its
 * Content-Length must not look complete (RFC 9112 §6.3).
 */
function streamBody(
  res: ServerResponse, ctx: RequestContext, rep: Representation, start: number, end: number,
  status: number, headers: Readonly<Record<string, string>> | readonly string[], options: SendOptions,
): void {
  const expected = end - start + 1;
  if (expected <= 0) {
    res.writeHead(status, headers as Record<string, string> | string[]);
    res.end();
    return;
  }
  const stream = createReadStream(rep.file.path, { start, end });
  // A client that leaves must not leave the file open behind it.
  res.once('close', () => stream.destroy());
  stream.once('error', (error) => {
    if (res.headersSent) {
      ctx.logger.warn({ err: error }, 'static file failed while streaming');
      res.destroy();
      return;
    }
    options.onVanished(res, ctx, rep);
  });
  stream.once('ready', () => {
    res.writeHead(status, headers as Record<string, string> | string[]);
    stream.once('end', () => {
      if (stream.bytesRead === expected) res.end();
      else res.destroy();
    });
    stream.pipe(res, { end: false });
  });
}
