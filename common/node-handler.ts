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

/** The socket the listener sees: addresses from the AppRequest, no I/O (light-my-request's MockSocket). */
function fakeSocket(request: AppRequest): Socket {
  const socket = Object.assign(new EventEmitter(), {
    remoteAddress: request.remoteAddress,
    remotePort: request.remotePort,
    localAddress: request.localAddress,
    localPort: request.localPort,
    remoteFamily: request.remoteAddress.includes(':') ? 'IPv6' : 'IPv4',
    // on-finished (Express's body parsers) takes a request on an unreadable socket as already read.
    readable: true,
    writable: true,
    destroyed: false,
    encrypted: false,
    setTimeout: () => socket,
    setNoDelay: () => socket,
    setKeepAlive: () => socket,
    destroy: () => socket,
    end: () => socket,
    pause: () => socket,
    resume: () => socket,
    cork: () => undefined,
    uncork: () => undefined,
    ref: () => socket,
    unref: () => socket,
  });
  return socket as unknown as Socket;
}

function toIncoming(request: AppRequest): IncomingMessage {
  const req = new IncomingMessage(fakeSocket(request));
  req.method = request.method;
  req.url = request.target;
  req.httpVersion = request.httpVersion;
  const [major = '1', minor = '1'] = request.httpVersion.split('.');
  req.httpVersionMajor = Number(major);
  req.httpVersionMinor = Number(minor);
  const rawHeaders: string[] = [];
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    rawHeaders.push(name, value);
    headers[name] = value;
  }
  req.rawHeaders = rawHeaders;
  req.headers = headers;
  if (request.body.byteLength > 0) req.push(Buffer.from(request.body.buffer, request.body.byteOffset, request.body.byteLength));
  req.push(null);
  req.complete = true;
  return req;
}

/** Response header values as the AppResponse carries them (numbers as strings, arrays kept: Set-Cookie). */
function headersOf(res: ServerResponse): AppResponseHeaders {
  const headers: AppResponseHeaders = {};
  for (const name of res.getHeaderNames()) {
    const value = res.getHeader(name);
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

/**
 * A ServerResponse whose output goes to the AppResponse: `onHead` is called once, when the body
 * is known to be whole (end) or to be a stream (first write, or a head written and nothing more
 * this turn of the event loop). Its write/end/writeHead/destroy are replaced on the instance (as
 * light-my-request replaces them on its prototype); everything else is node's own.
 */
function captureResponse(req: IncomingMessage, onHead: (response: AppResponse) => void): ServerResponse {
  const res = new ServerResponse(req);
  const original = { writeHead: res.writeHead.bind(res) as (status: number, reason?: string) => ServerResponse };
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
    const body = streaming ? stream() : Buffer.concat(chunks.splice(0));
    onHead({ status: res.statusCode, headers: headersOf(res), body });
  }

  function take(chunk: Buffer): void {
    if (chunk.length === 0) return;
    chunks.push(chunk);
    queuedBytes += chunk.length;
    wakeConsumer();
  }

  function writeHead(statusCode: number, second?: unknown, third?: unknown): ServerResponse {
    const fields = typeof second === 'string' ? third : second;
    // Set each field first so getHeaders() sees them: node's writeHead passes an object straight
    // to the head it serialises, bypassing the store when nothing was set before.
    if (Array.isArray(fields)) {
      const flat = fields.length > 0 && Array.isArray(fields[0]) ? (fields as [string, string][]).flat() : (fields as string[]);
      for (let index = 0; index + 1 < flat.length; index += 2) res.appendHeader(String(flat[index]), String(flat[index + 1]));
    } else if (fields !== undefined && fields !== null) {
      for (const [name, value] of Object.entries(fields as Record<string, string | number | string[]>)) res.setHeader(name, value);
    }
    if (typeof second === 'string') original.writeHead(statusCode, second);
    else original.writeHead(statusCode);
    // A head with nothing written after it this turn (server-sent events, a slow first chunk): hand
    // it over as a stream now, so the client sees the head without waiting for the first write.
    setImmediate(() => handOver(true));
    return res;
  }

  function write(chunk: unknown, encodingOrCallback?: BufferEncoding | Callback, callback?: Callback): boolean {
    const encoding = typeof encodingOrCallback === 'string' ? encodingOrCallback : undefined;
    const done = typeof encodingOrCallback === 'function' ? encodingOrCallback : callback;
    if (ended || res.destroyed) {
      if (done !== undefined) process.nextTick(done, new Error('write after end'));
      return false;
    }
    if (!headSent()) writeHead(res.statusCode);
    take(toBuffer(chunk, encoding));
    handOver(true);
    if (done !== undefined) process.nextTick(done);
    return queuedBytes < HIGH_WATER_MARK_BYTES;
  }

  function end(chunk?: unknown, encodingOrCallback?: BufferEncoding | Callback, callback?: Callback): ServerResponse {
    const data = typeof chunk === 'function' ? undefined : chunk;
    const encoding = typeof encodingOrCallback === 'string' ? encodingOrCallback : undefined;
    const done = [chunk, encodingOrCallback, callback].find((value): value is Callback => typeof value === 'function');
    if (ended) return res;
    if (!headSent()) writeHead(res.statusCode);
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
    ended = true;
    wakeConsumer();
    process.nextTick(() => {
      if (error !== undefined && res.listenerCount('error') > 0) res.emit('error', error);
      res.emit('close');
    });
    return res;
  }

  Object.assign(res, { writeHead, write, end, destroy });
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
        const res = captureResponse(req, resolve);
        res.once('close', () => {
          if (!res.writableEnded) reject(new Error('the response was destroyed before it was sent'));
        });
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
