/**
 * Reads the request body for a CGI script, bounded by the body limit. Buffered (at most the limit,
 * 1 MiB by default) rather than streamed because RFC 3875 §4.1.2 wants CONTENT_LENGTH set whenever
 * there is a body, and a chunked request only has a length once it has been read; nginx buffers
 * request bodies for its FastCGI upstreams for the same reason.
 */
import type { IncomingMessage } from 'node:http';
import { bodyTooLargeError, declaredBodyTooLarge } from '../body-limit.js';

/** The client went away while its body was being read: there is nobody left to answer. */
export class ClientGoneError extends Error {
  readonly code = 'CGI_CLIENT_GONE';
  constructor() {
    super('client disconnected while sending the body');
    this.name = 'ClientGoneError';
  }
}

/** The body, or undefined when the request has none (no Content-Length, no Transfer-Encoding). */
export function readRequestBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  // RFC 3875 §4.1.2 ties CONTENT_LENGTH to the presence of a body, so an explicit
  // `Content-Length: 0` counts as a (empty) body here, as in Python's CGIHTTPRequestHandler.
  if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) return Promise.resolve(undefined);
  // A declared length over the limit is refused before a byte is read (also answers Expect: 100-continue).
  if (declaredBodyTooLarge(req.headers, limit)) return Promise.reject(bodyTooLargeError(limit));

  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onGone);
      req.off('close', onClose);
    };
    function onData(chunk: Buffer): void {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        // Stop reading: the caller answers 413 with Connection: close, which ends the upload.
        req.pause();
        reject(bodyTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    }
    function onEnd(): void {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    }
    function onGone(): void {
      cleanup();
      reject(new ClientGoneError());
    }
    function onClose(): void {
      if (!req.complete) onGone();
    }
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onGone);
    req.once('close', onClose);
  });
}
