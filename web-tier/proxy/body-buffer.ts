/**
 * Request buffering for small bodies (nginx's `proxy_request_buffering on`): a body that is small
 * is read whole in the web tier before its request waits for an upstream slot, so a client that
 * sends it a byte at a time (slowhttptest's "slow body", R-U-Dead-Yet) holds a socket of the web
 * tier, bounded by the server's requestTimeout, never a slot of the app tier. Bodies stay streamed
 * and bounded (http-proxy#180): only up to `maxBytes` is ever held; a larger body streams on.
 */
import { PassThrough, Readable } from 'node:stream';

/** The same size the retry copy keeps (body-replay.ts): one bound for what a request may hold. */
export const DEFAULT_BUFFER_BODY_BYTES = 64 * 1024;

/**
 * Whether to read the body before admission: a declared Content-Length up to `maxBytes`, or no
 * declared length at all (chunked, RFC 9112 §7.1: read until it ends or passes `maxBytes`).
 * `maxBytes` 0 turns buffering off.
 */
export function buffersBody(declaredLength: number | undefined, maxBytes: number): boolean {
  if (maxBytes === 0) return false;
  return declaredLength === undefined || declaredLength <= maxBytes;
}

/**
 * Reads `source` until it ends, then calls `onReady` with a stream of the whole body; or, once more
 * than `maxBytes` arrived (a chunked body only), calls it with a stream of what was read followed
 * by the rest of `source`, still streaming. A source that errors or never ends never calls
 * `onReady`: its errors belong to the caller (the body limit answers 413, a client that leaves
 * closes the response), so the request is never admitted.
 */
export function bufferBody(source: Readable, maxBytes: number, onReady: (body: Readable) => void): void {
  const chunks: Buffer[] = [];
  let bytes = 0;
  const stop = (): void => {
    source.off('data', onData);
    source.off('end', onEnd);
  };
  function onData(chunk: Buffer): void {
    chunks.push(chunk);
    bytes += chunk.length;
    if (bytes <= maxBytes) return;
    stop();
    // Paused before the hand-over, so no chunk is emitted between the two readers; pipe()
    // resumes it once the copy has drained (the PassThrough buffers what was already read).
    source.pause();
    const rest = new PassThrough();
    for (const read of chunks) rest.write(read);
    chunks.length = 0;
    source.pipe(rest);
    onReady(rest);
  }
  function onEnd(): void {
    stop();
    onReady(Readable.from(chunks, { objectMode: false }));
  }
  source.on('data', onData);
  source.once('end', onEnd);
}
