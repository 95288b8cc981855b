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
import { bodyBufferFailed, type BufferedBody } from './body-buffer.js';
import { errorCode, upstreamUnavailable } from './errors.js';
import type { Exchange, Forwarder } from './exchange.js';
import { admitFirst, fail } from './forward.js';
import { moveTo } from './phase.js';

/** Reads `source` into `buffered`, then admits the exchange with the copy as its body. */
export function bufferThenAdmit(forwarder: Forwarder, exchange: Exchange, source: Readable, buffered: BufferedBody, isClosed: () => boolean): void {
  const { res, ctx } = exchange;
  res.once('close', () => {
    // An upstream that answered before it read the whole body: stop sending it (RFC 9112 §9.6,
    // the connection cannot be reused anyway), then close the file.
    const proxyReq = exchange.attempt?.proxyReq;
    if (proxyReq?.writableFinished === false) proxyReq.destroy();
    buffered.destroy();
  });
  buffered.on('error', (error) => onBufferError(forwarder, exchange, error, isClosed()));
  buffered.once('finish', () => {
    if (exchange.phase !== 'received') return;
    if (isClosed()) {
      // Retired by a reload or closing while the body arrived: answered as a queued request would be.
      moveTo(exchange, 'failed');
      buffered.destroy();
      sendError(res, ctx, upstreamUnavailable(1));
      return;
    }
    // The web tier frames what it sends (RFC 9112 §6.2): the buffered body's exact length, a
    // chunked one's included; the client's framing never goes upstream.
    exchange.outgoing.reframe(buffered.bytes);
    admitFirst(forwarder, exchange, buffered.open());
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
  exchange.attempt?.proxyReq?.destroy();
  fail(forwarder, exchange, reply);
}
