/**
 * fromNodeHandler(listener): a plain Node request listener `(req, res)` (an Express or Connect
 * app, or what you would hand http.createServer) as an Application, so it runs unchanged as
 * persistent workers, embedded and CGI. Each request gets a real http.IncomingMessage (so
 * Express's request prototype works) holding the AppRequest's body, and a real
 * http.ServerResponse whose write/end are caught here instead of reaching a socket, the way
 * fastify's light-my-request injects requests. The answer is handed back as soon as the head
 * is known: a response ended at once becomes one Buffer (Content-Length framing); one written
 * piece by piece becomes a streamed body, with write() returning false and 'drain' following
 * the consumer, so pipe() keeps its back-pressure.
 */
import { EventEmitter } from 'node:events';
import { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { AppRequest, AppResponse, AppResponseHeaders, Application } from './app-interface.js';

export type NodeRequestListener = (req: IncomingMessage, res: ServerResponse) => unknown;

/** Bytes written and not yet taken by the consumer above which write() says false (node's default highWaterMark). */
const HIGH_WATER_MARK_BYTES = 16 * 1024;

/**
 * The socket the listener sees: addresses from the AppRequest, no I/O (light-my-request's MockSocket).
 * A class, so a request costs one small object instead of an emitter with a closure per method.
 */
class FakeSocket extends EventEmitter {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteFamily: 'IPv4' | 'IPv6';
  // on-finished (Express's body parsers) takes a request on an unreadable socket as already read.
  readonly readable = true;
  readonly writable = true;
  readonly destroyed = false;
  readonly encrypted = false;

  constructor(request: AppRequest) {
    super();
    this.remoteAddress = request.remoteAddress;
    this.remotePort = request.remotePort;
    this.localAddress = request.localAddress;
    this.localPort = request.localPort;
    this.remoteFamily = request.remoteAddress.includes(':') ? 'IPv6' : 'IPv4';
  }

  setTimeout(): this { return this; }
  setNoDelay(): this { return this; }
  setKeepAlive(): this { return this; }
  destroy(): this { return this; }
  end(): this { return this; }
  pause(): this { return this; }
  resume(): this { return this; }
  cork(): void {}
  uncork(): void {}
  ref(): this { return this; }
  unref(): this { return this; }
}

function toIncoming(request: AppRequest): IncomingMessage {
  const req = new IncomingMessage(new FakeSocket(request) as unknown as Socket);
  req.method = request.method;
  req.url = request.target;
  req.httpVersion = request.httpVersion;
  const [major = '1', minor = '1'] = request.httpVersion.split('.');
  req.httpVersionMajor = Number(major);
  req.httpVersionMinor = Number(minor);
  const rawHeaders: string[] = [];
  const headers: Record<string, string | string[]> = {};
  const fields = request.headers;
  for (const name in fields) {
    const value = fields[name] as string;
    rawHeaders.push(name, value);
    headers[name] = value;
  }
  req.rawHeaders = rawHeaders;
  req.headers = headers;
  const body = request.body;
  if (body.byteLength > 0) req.push(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  req.push(null);
  req.complete = true;
  return req;
}

/** Response header values as the AppResponse carries them (numbers as strings, arrays kept: Set-Cookie). */
function headersOf(res: ServerResponse): AppResponseHeaders {
  const headers: AppResponseHeaders = {};
  // One copy of the store (names lowercased, as getHeaderNames gives them) instead of a lookup per name.
  const stored = res.getHeaders();
  for (const name in stored) {
    const value = stored[name];
    if (value === undefined) continue;
    headers[name] = Array.isArray(value) ? value.map(String) : String(value);
  }
  return headers;
}

type Callback = (error?: Error | null) => void;

function toBuffer(chunk: unknown, encoding: BufferEncoding | undefined): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, encoding ?? 'utf8');
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError('The "chunk" argument must be of type string or an instance of Buffer or Uint8Array');
}

const EMPTY_BODY = Buffer.alloc(0);

type WriteHead = (this: ServerResponse, statusCode: number, reason?: string) => ServerResponse;
const nodeWriteHead = ServerResponse.prototype.writeHead as WriteHead;

/**
 * Stands in for OutgoingMessage._storeHeader on a captured response: node's writeHead still checks
 * the status code and the reason phrase and sets statusCode/statusMessage, and `_header` being set
 * is what headersSent and setHeader's ERR_HTTP_HEADERS_SENT read; but the head is never serialised
 * (the real response does that once, on the real socket).
 */
function markHeadStored(this: ServerResponse, statusLine: string): void {
  const fields = this as unknown as { _header: string; _headerSent: boolean };
  fields._header = statusLine;
  fields._headerSent = false;
}

/**
 * A ServerResponse whose output goes to the AppResponse: `onHead` is called once, when the body
 * is known to be whole (end) or to be a stream (first write, or a head written and nothing more
 * this turn of the event loop). Its write/end/writeHead/destroy are replaced on the instance (as
 * light-my-request replaces them on its prototype; on the instance because Express swaps the
 * prototype); everything else is node's own. `onFail` is called when the listener destroys the
 * response before its head was handed over.
 */
function captureResponse(req: IncomingMessage, onHead: (response: AppResponse) => void, onFail: (error: Error) => void): ServerResponse {
  const res = new ServerResponse(req);
  const chunks: Buffer[] = [];
  let queuedBytes = 0;
  let ended = false;
  let handedOver = false;
  let wake: (() => void) | undefined;

  const headSent = (): boolean => {
    const head = (res as unknown as { _header?: string | null })._header;
    return head !== null && head !== undefined;
  };
  const wakeConsumer = (): void => {
    const resume = wake;
    wake = undefined;
    resume?.();
  };

  async function* stream(): AsyncGenerator<Uint8Array> {
    try {
      for (;;) {
        const chunk = chunks.shift();
        if (chunk !== undefined) {
          queuedBytes -= chunk.length;
          if (queuedBytes < HIGH_WATER_MARK_BYTES) res.emit('drain');
          yield chunk;
          continue;
        }
        if (ended) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      // The consumer stopped early (the client went away): tell the listener, as node would.
      if (!ended) res.destroy();
    }
  }

  function handOver(streaming: boolean): void {
    if (handedOver) return;
    handedOver = true;
    // A body ended at once is usually one chunk (Express's send): handed over as it is, not copied.
    const body = streaming ? stream() : chunks.length === 1 ? chunks.pop() as Buffer : chunks.length === 0 ? EMPTY_BODY : Buffer.concat(chunks.splice(0));
    onHead({ status: res.statusCode, headers: headersOf(res), body });
  }

  function take(chunk: Buffer): void {
    if (chunk.length === 0) return;
    chunks.push(chunk);
    queuedBytes += chunk.length;
    wakeConsumer();
  }

  /** The head, recorded (not serialised); write() and end() hand the body over themselves. */
  function storeHead(statusCode: number, second?: unknown, third?: unknown): void {
    const fields = typeof second === 'string' ? third : second;
    // Set each field first so getHeaders() sees them: node's writeHead passes an object straight
    // to the head it serialises, bypassing the store when nothing was set before.
    if (Array.isArray(fields)) {
      const flat = fields.length > 0 && Array.isArray(fields[0]) ? (fields as [string, string][]).flat() : (fields as string[]);
      for (let index = 0; index + 1 < flat.length; index += 2) res.appendHeader(String(flat[index]), String(flat[index + 1]));
    } else if (fields !== undefined && fields !== null) {
      const record = fields as Record<string, string | number | string[]>;
      for (const name in record) res.setHeader(name, record[name] as string | number | string[]);
    }
    if (typeof second === 'string') nodeWriteHead.call(res, statusCode, second);
    else nodeWriteHead.call(res, statusCode);
  }

  function writeHead(statusCode: number, second?: unknown, third?: unknown): ServerResponse {
    storeHead(statusCode, second, third);
    // A head with nothing written after it this turn (server-sent events, a slow first chunk): hand
    // it over as a stream then, so the client sees the head without waiting for the first write.
    setImmediate(handOver, true);
    return res;
  }

  function write(chunk: unknown, encodingOrCallback?: BufferEncoding | Callback, callback?: Callback): boolean {
    const encoding = typeof encodingOrCallback === 'string' ? encodingOrCallback : undefined;
    const done = typeof encodingOrCallback === 'function' ? encodingOrCallback : callback;
    if (ended || res.destroyed) {
      if (done !== undefined) process.nextTick(done, new Error('write after end'));
      return false;
    }
    if (!headSent()) storeHead(res.statusCode);
    take(toBuffer(chunk, encoding));
    handOver(true);
    if (done !== undefined) process.nextTick(done);
    return queuedBytes < HIGH_WATER_MARK_BYTES;
  }

  function end(chunk?: unknown, encodingOrCallback?: BufferEncoding | Callback, callback?: Callback): ServerResponse {
    const data = typeof chunk === 'function' ? undefined : chunk;
    const encoding = typeof encodingOrCallback === 'string' ? encodingOrCallback : undefined;
    const done = typeof chunk === 'function' ? chunk as Callback : typeof encodingOrCallback === 'function' ? encodingOrCallback : callback;
    if (ended) return res;
    if (!headSent()) storeHead(res.statusCode);
    if (data !== undefined && data !== null) take(toBuffer(data, encoding));
    ended = true;
    // writableEnded / writableFinished read this (node's OutgoingMessage), and so does on-finished.
    res.finished = true;
    wakeConsumer();
    handOver(false);
    process.nextTick(() => {
      res.emit('prefinish');
      res.emit('finish');
      done?.();
      res.emit('close');
    });
    return res;
  }

  function destroy(error?: Error): ServerResponse {
    if (res.destroyed) return res;
    res.destroyed = true;
    const unanswered = !ended;
    ended = true;
    wakeConsumer();
    // Destroyed before it ended: the request fails (a 500 when no head was handed over yet).
    if (unanswered) onFail(new Error('the response was destroyed before it was sent'));
    process.nextTick(() => {
      if (error !== undefined && res.listenerCount('error') > 0) res.emit('error', error);
      res.emit('close');
    });
    return res;
  }

  Object.assign(res, { writeHead, write, end, destroy, _storeHeader: markHeadStored });
  return res;
}

/**
 * The listener as an Application. A listener that throws, or returns a promise that rejects,
 * before answering fails that request (the guard makes it a 500 with the request id); one that
 * fails after its head is out cuts the body, as a real server would.
 */
export function fromNodeHandler(listener: NodeRequestListener): Application {
  return {
    handle(request) {
      return new Promise<AppResponse>((resolve, reject) => {
        const req = toIncoming(request);
        const res = captureResponse(req, resolve, reject);
        let returned: unknown;
        try {
          returned = listener(req, res);
        } catch (error) {
          reject(error);
          return;
        }
        if (returned instanceof Promise) returned.catch((error: unknown) => {
          reject(error);
          res.destroy(error instanceof Error ? error : new Error(String(error)));
        });
      });
    },
    async close() {},
  };
}
