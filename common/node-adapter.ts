/**
 * The bridge between node's http objects and the application interface, used by every
 * adapter that has an IncomingMessage/ServerResponse pair (the app tier's workers and the
 * web tier's embedded mode). CGI has its own, since it gets env + stdin instead.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AppBody, AppRequest, AppResponse } from './app-interface.js';
import { firstEvent } from './first-event.js';

/** Node's req.headers with arrays (only set-cookie is one) joined like every other repeated field. */
function joinHeaders(headers: IncomingMessage['headers']): Record<string, string> {
  const joined: Record<string, string> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    joined[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return joined;
}

/** The body is larger than the adapter's maxBodyBytes: answer 413 (RFC 9110 §15.5.14) and close. */
export class BodyTooLargeError extends Error {
  readonly code = 'BODY_TOO_LARGE';
  readonly maxBytes: number;
  constructor(maxBytes: number) {
    super(`request body exceeds ${maxBytes} bytes`);
    this.name = 'BodyTooLargeError';
    this.maxBytes = maxBytes;
  }
}

const NO_BODY = new Uint8Array(0);

function readBody(req: IncomingMessage, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(req.headers['content-length'] ?? 0);
  // A declared length over the limit is refused before a byte of the body is buffered.
  if (declared > maxBytes) return Promise.reject(new BodyTooLargeError(maxBytes));
  // RFC 9112 §6.3: a request with neither Transfer-Encoding nor a Content-Length above 0 has no
  // body (a request is never framed by the connection closing), so there is nothing to wait for:
  // node dumps the empty stream itself once the response is done, as for any unread request.
  if (declared === 0 && req.headers['transfer-encoding'] === undefined) return Promise.resolve(NO_BODY);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const settle = (error: Error | undefined): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      if (error !== undefined) reject(error);
      else resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
    };
    const onData = (chunk: Buffer): void => {
      bytes += chunk.length;
      if (bytes <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      // A chunked body declares nothing: stop at the limit, not at its end. Paused, not
      // destroyed, so the socket can still carry the 413 (the caller closes it after).
      req.pause();
      chunks.length = 0;
      settle(new BodyTooLargeError(maxBytes));
    };
    const onEnd = (): void => settle(undefined);
    const onError = (error: Error): void => settle(error);
    // 'close' before 'end': the client left mid-body.
    const onClose = (): void => settle(new Error('the connection closed before the request body was complete'));
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
    req.once('close', onClose);
  });
}

export interface ToAppRequestOptions {
  /**
   * The most body bytes buffered; more rejects with BodyTooLargeError. Unbounded when absent:
   * the embedded mode runs behind the web tier's own limit (WEB_MAX_BODY).
   */
  readonly maxBodyBytes?: number | undefined;
}

/** Collects the whole body, up to `maxBodyBytes` when given. */
export async function toAppRequest(req: IncomingMessage, requestId: string, options: ToAppRequestOptions = {}): Promise<AppRequest> {
  const body = await readBody(req, options.maxBodyBytes ?? Number.POSITIVE_INFINITY);
  const socket = req.socket;
  return {
    method: req.method ?? 'GET',
    target: req.url ?? '/',
    httpVersion: req.httpVersion,
    headers: joinHeaders(req.headers),
    body,
    remoteAddress: socket.remoteAddress ?? '',
    remotePort: socket.remotePort ?? 0,
    localAddress: socket.localAddress ?? '',
    localPort: socket.localPort ?? 0,
    requestId,
  };
}

/** RFC 9110 §6.4.1: 1xx, 204 and 304 never carry content, and neither does any answer to HEAD. */
function mayHaveContent(status: number, method: string | undefined): boolean {
  return method !== 'HEAD' && status >= 200 && status !== 204 && status !== 304;
}

function fixedLength(body: AppBody): number | undefined {
  if (body === null) return 0;
  if (typeof body === 'string') return Buffer.byteLength(body);
  if (body instanceof Uint8Array) return body.byteLength;
  return undefined;
}

/** Resolves on 'drain'; false when the response closed first (the client went away). */
function drained(res: ServerResponse): Promise<boolean> {
  return firstEvent(res, 'drain', 'close');
}

/**
 * Writes an AppResponse. A known-length body gets Content-Length (so keep-alive needs no
 * chunking); a stream is written chunk by chunk, waiting for 'drain' whenever write() says
 * the socket buffer is full, and stops when the client goes away. A failing stream after the
 * head is sent can only be signalled by cutting the connection (RFC 9112 §8: incomplete).
 */
export async function writeAppResponse(res: ServerResponse, response: AppResponse): Promise<void> {
  const { status, headers, body } = response;
  // Whether the application framed the body itself, found in the same pass that copies the fields.
  let framed = false;
  for (const name in headers) {
    res.setHeader(name, headers[name] as string | string[]);
    if (!framed && (name.length === 14 || name.length === 17)) {
      const lower = name.toLowerCase();
      framed = lower === 'content-length' || lower === 'transfer-encoding';
    }
  }
  const length = fixedLength(body);
  const content = mayHaveContent(status, res.req?.method);
  if (length !== undefined && content && !framed) {
    res.setHeader('Content-Length', length);
  }
  res.statusCode = status;
  if (body === null || typeof body === 'string' || body instanceof Uint8Array) {
    if (body === null) res.end();
    else res.end(body);
    return ended(res);
  }
  try {
    for await (const chunk of body) {
      if (res.destroyed) return;
      if (!res.write(chunk) && !(await drained(res))) return;
    }
  } catch (error) {
    res.destroy(error as Error);
    return;
  }
  res.end();
  return ended(res);
}

/** Resolves once the response is handed to the OS ('finish') or the connection is gone ('close'). */
function ended(res: ServerResponse): Promise<void> {
  if (res.writableFinished || res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('finish', done);
      res.off('close', done);
      resolve();
    };
    res.once('finish', done);
    res.once('close', done);
  });
}
