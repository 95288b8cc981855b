/**
 * The request-buffering pass (nginx `proxy_request_buffering on`): the body is read whole into a
 * BufferedBody (body-buffer.ts) before the request takes a place in the queue, so a slow body
 * holds the client's socket (until the server's requestTimeout), never an upstream slot. A body
 * past the limit (413), a full temp space (503) or a client that leaves settles the exchange and
 * it is never admitted. Whatever happened, the copy and its temp file go with the response.
 */
import type { Readable } from 'node:stream';
import { TwotierError } from '../../common/errors.js';
import { sendError } from '../error-response.js';
import { bodyBufferFailed, withContentLength, withContentLengthField, type BufferedBody } from './body-buffer.js';
import { errorCode, upstreamUnavailable } from './errors.js';
import type { Exchange, Forwarder } from './exchange.js';
import { admit, fail } from './forward.js';

/** Reads `source` into `buffered`, then admits the exchange with the copy as its body. */
export function bufferThenAdmit(forwarder: Forwarder, exchange: Exchange, source: Readable, buffered: BufferedBody, isClosed: () => boolean): void {
  const { req, res, ctx } = exchange;
  res.once('close', () => {
    // An upstream that answered before it read the whole body: stop sending it (RFC 9112 §9.6,
    // the connection cannot be reused anyway), then close the file.
    if (exchange.proxyReq?.writableFinished === false) exchange.proxyReq.destroy();
    buffered.destroy();
  });
  buffered.on('error', (error) => onBufferError(forwarder, exchange, error, isClosed()));
  buffered.once('finish', () => {
    if (exchange.settled) return;
    if (isClosed()) {
      // Retired by a reload or closing while the body arrived: answered as a queued request would be.
      exchange.settled = true;
      buffered.destroy();
      sendError(res, ctx, upstreamUnavailable(1));
      return;
    }
    // The web tier frames what it sends (RFC 9112 §6.2): the buffered body's exact length, a
    // chunked one's included; the client's framing never goes upstream.
    exchange.body = buffered.open();
    exchange.framing = { kind: 'length', length: buffered.bytes };
    if (exchange.headerList !== undefined) exchange.headerList = withContentLength(exchange.headerList, buffered.bytes);
    else req.headers = withContentLengthField(req.headers, buffered.bytes);
    admit(forwarder, exchange, undefined);
  });
  source.pipe(buffered);
}

/**
 * The copy failed: past the limit (413) or the temp budget (503) as typed errors; a temp file that
 * could not be made, written or read (disk full, EIO) is the web tier's own failure (500), or 503
 * when the proxy is closing and makes no more temp files.
 */
export function onBufferError(forwarder: Forwarder, exchange: Exchange, error: Error, closed: boolean): void {
  const reply = error instanceof TwotierError ? error : closed ? upstreamUnavailable(1) : bodyBufferFailed(error);
  if (reply.status === 500) exchange.ctx.logger.error({ code: errorCode(error) }, 'request body could not be buffered');
  exchange.proxyReq?.destroy();
  fail(forwarder, exchange, reply);
}
