/**
 * The request body limit, enforced as the body arrives, never after reading it whole
 * (http-proxy#180). Shared by the proxy and the CGI gateway: both pipe the request through
 * `createBodyLimit()` into their destination (the proxy's buffered copy, proxy/body-buffer.ts, or
 * a streamed upstream request; a child's stdin).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { TwotierError } from '../common/errors.js';
import { LIMITS_DEFAULTS } from './limits-config.js';

/** The default limit, nginx's `client_max_body_size` (WEB_MAX_BODY): 1 MiB, from limits-config.ts. */
export const DEFAULT_MAX_BODY_BYTES = LIMITS_DEFAULTS.maxBodyBytes;

/**
 * The declared Content-Length, or undefined when there is none or it is not one plain decimal
 * number (limits.ts answers 400 for those: RFC 9112 §6.3 request smuggling signs).
 */
export function declaredBodyLength(headers: IncomingHttpHeaders): number | undefined {
  const value = headers['content-length'];
  if (value === undefined || !/^\d{1,16}$/.test(value)) return undefined;
  return Number(value);
}

/** True when Content-Length alone already says the body is too large: answer 413 before reading it. */
export function declaredBodyTooLarge(headers: IncomingHttpHeaders, maxBytes: number): boolean {
  const length = declaredBodyLength(headers);
  return length !== undefined && length > maxBytes;
}

/** True when a request carries a body: a non-zero Content-Length or any Transfer-Encoding (RFC 9112 §6.1). */
export function requestHasBody(headers: IncomingHttpHeaders): boolean {
  if (headers['transfer-encoding'] !== undefined) return true;
  const length = declaredBodyLength(headers);
  return length !== undefined && length > 0;
}

export function bodyTooLargeError(maxBytes: number): TwotierError {
  return new TwotierError('WEB_ERR_BODY_TOO_LARGE', `request body exceeds ${maxBytes} bytes`);
}

/** A pass-through stream that counts bytes and fails with WEB_ERR_BODY_TOO_LARGE past the limit. */
export interface BodyLimit extends Transform {
  /** Bytes passed through so far. */
  readonly bytes: number;
}

class BodyLimitStream extends Transform implements BodyLimit {
  bytes = 0;
  readonly #maxBytes: number;

  constructor(maxBytes: number) {
    super();
    this.#maxBytes = maxBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    // Counted per chunk as it arrives, so a chunked body (no Content-Length) is cut off
    // as soon as it crosses the limit, never read whole first.
    if (this.bytes > this.#maxBytes) {
      callback(bodyTooLargeError(this.#maxBytes));
      return;
    }
    callback(null, chunk);
  }
}

/** A body of exactly `maxBytes` passes; one byte more fails. */
export function createBodyLimit(maxBytes: number): BodyLimit {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError(`maxBytes must be a non-negative integer, got ${maxBytes}`);
  return new BodyLimitStream(maxBytes);
}
