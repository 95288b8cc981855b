/**
 * Raw HTTP/1.1 over `net`, for what HTTP clients refuse to send (smuggling, bad framing,
 * pipelining) and for reading exactly what came back, including whether the server closed.
 */
import { connect, type Server, type Socket } from 'node:net';

export interface RawResponse {
  readonly status: number;
  readonly statusText: string;
  /** Lower-case names; repeated fields joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface RawExchange {
  /** Everything the server sent, latin1. */
  readonly raw: string;
  readonly responses: readonly RawResponse[];
  /** True when the server ended the connection before `timeoutMs`. */
  readonly closedByServer: boolean;
  /** Milliseconds from connect until the server closed (or the timeout). */
  readonly ms: number;
}

export interface RawOptions {
  /** Stop waiting after this long and close from our side (bounded tests). */
  readonly timeoutMs?: number;
  /** Resolve as soon as this many complete responses are in (keep-alive checks). */
  readonly responses?: number;
  /** Indexes of the responses that answer HEAD requests (they have no body whatever Content-Length says). */
  readonly headAt?: readonly number[];
  /** Connect from this local address (127.0.0.2 … : another peer for per-peer limits). */
  readonly localAddress?: string;
}

/** Parses as many complete responses as `raw` holds (Content-Length, chunked, or until close). */
export function parseResponses(raw: string, closed: boolean, headAt: readonly number[] = []): RawResponse[] {
  const responses: RawResponse[] = [];
  let rest = raw;
  while (rest.length > 0) {
    const headEnd = rest.indexOf('\r\n\r\n');
    if (headEnd === -1) break;
    const [statusLine = '', ...lines] = rest.slice(0, headEnd).split('\r\n');
    const match = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(statusLine);
    if (match === null) break;
    const status = Number(match[1]);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    let bodyStart = headEnd + 4;
    let body = '';
    const noBody = status === 204 || status === 304 || (status >= 100 && status < 200) || headAt.includes(responses.length);
    if (noBody) {
      body = '';
    } else if (headers['transfer-encoding']?.toLowerCase().includes('chunked')) {
      let cursor = bodyStart;
      let complete = false;
      for (;;) {
        const lineEnd = rest.indexOf('\r\n', cursor);
        if (lineEnd === -1) break;
        const size = Number.parseInt(rest.slice(cursor, lineEnd), 16);
        if (Number.isNaN(size)) break;
        if (size === 0) {
          const trailerEnd = rest.indexOf('\r\n\r\n', lineEnd);
          if (trailerEnd === -1 && rest.slice(lineEnd, lineEnd + 4) !== '\r\n\r\n') break;
          cursor = (trailerEnd === -1 ? lineEnd : trailerEnd) + 4;
          complete = true;
          break;
        }
        if (rest.length < lineEnd + 2 + size + 2) break;
        body += rest.slice(lineEnd + 2, lineEnd + 2 + size);
        cursor = lineEnd + 2 + size + 2;
      }
      if (!complete) break;
      bodyStart = cursor;
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (rest.length < bodyStart + length) break;
      body = rest.slice(bodyStart, bodyStart + length);
      bodyStart += length;
    } else if (closed) {
      body = rest.slice(bodyStart);
      bodyStart = rest.length;
    } else {
      break;
    }
    responses.push({ status, statusText: match[2] ?? '', headers, body });
    rest = rest.slice(bodyStart);
  }
  return responses;
}

/** Sends `bytes` (string pieces are written one by one) and collects what comes back. */
export function rawExchange(port: number, bytes: string | Buffer | readonly (string | Buffer)[], options: RawOptions = {}): Promise<RawExchange> {
  const timeoutMs = options.timeoutMs ?? 3_000;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host: '127.0.0.1', port, ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }) });
    let raw = '';
    let done = false;
    const finish = (closedByServer: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ raw, responses: parseResponses(raw, closedByServer, options.headAt), closedByServer, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      raw += chunk;
      if (options.responses !== undefined && parseResponses(raw, false, options.headAt).length >= options.responses) finish(false);
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // A reset after the server answered still counts as the server closing.
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') finish(true);
      else if (!done) {
        done = true;
        clearTimeout(timer);
        reject(error);
      }
    });
    socket.on('connect', () => {
      const pieces = Array.isArray(bytes) ? bytes : [bytes];
      // No half-close afterwards: the test waits for the server to decide to close.
      for (const piece of pieces) socket.write(piece);
    });
  });
}

/** Opens a connection and keeps it (for slowloris / idle-connection tests); the caller destroys it. */
export function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves when the socket is closed by the peer, with the data it received. */
export function untilClosed(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      data += chunk;
    });
    socket.on('error', () => undefined);
    socket.once('close', () => resolve(data));
  });
}

/**
 * A half-open client, like a browser still uploading: the server's FIN does not end our side, so
 * only the server can end the connection. Destroyed in teardown; `received()` is what came back.
 */
export function openHalfOpen(t: { teardown(fn: () => unknown): void }, port: number): { socket: Socket; received(): string } {
  const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  t.teardown(() => socket.destroy());
  socket.on('error', () => undefined);
  let raw = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (raw += chunk));
  return { socket, received: () => raw };
}

/** Measured at the server: how long each of its next `count` accepted connections lived (ms from accept to close), in accept order. */
export function connectionLifetimes(server: Server, count: number): Promise<number>[] {
  const closers: ((ms: number) => void)[] = [];
  const lifetimes = Array.from({ length: count }, (_, index) => new Promise<number>((resolve) => (closers[index] = resolve)));
  let accepted = 0;
  const onConnection = (socket: Socket): void => {
    const started = Date.now();
    const resolve = closers[accepted];
    accepted += 1;
    if (accepted === count) server.off('connection', onConnection);
    socket.once('close', () => resolve?.(Date.now() - started));
  };
  server.on('connection', onConnection);
  return lifetimes;
}
