/**
 * The WebSocket side of the application interface (ASGI's websocket scope): turns node's
 * 'upgrade' event into one AppWebSocket per connection and calls `app.websocket(request, socket)`.
 * The persistent worker (app-tier/worker.ts) and embedded mode (web-tier/embedded.ts) both use it.
 * The protocol itself (handshake checks, framing, masking, UTF-8, ping/pong, the close handshake)
 * is the `ws` library's; what is ours is the contract with the application and what happens on
 * bad input: the connection closes with RFC 6455 §7.4.1's code, one line is logged, and every
 * other connection carries on.
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { bodyToBuffer, type AppRequest, type AppResponse, type AppWebSocket, type AppWebSocketEvent, type Application } from './app-interface.js';
import type { Logger } from './logger.js';

export interface WebSocketAdapterOptions {
  readonly app: Application;
  /** Largest message (after reassembly of fragments) a client may send; more closes with 1009. */
  readonly maxMessageBytes: number;
  /** How long closeAll() waits for each client's closing frame before cutting the socket. */
  readonly closeTimeoutMs?: number | undefined;
  /**
   * A ping to every open connection this often (0: never). It keeps a quiet connection from
   * being cut by a proxy's idle timer (the web tier's WEB_WS_IDLE_TIMEOUT_MS, nginx's
   * proxy_read_timeout, both 60 s by default), and a peer that has not answered the previous
   * ping by the next is cut (a half-open connection: its box or network is gone).
   */
  readonly pingIntervalMs?: number | undefined;
}

export interface WebSocketAdapter {
  /**
   * Runs one `Upgrade: websocket` request (isWebSocketUpgrade) through the application. `request`
   * is the AppRequest the adapter built from `req`; `log` the request's child logger.
   */
  handle(req: IncomingMessage, socket: Duplex, head: Buffer, request: AppRequest, log: Logger): void;
  /** Open connections (accepted, not yet closed). */
  readonly open: number;
  /**
   * Closes every open connection with `code` (1001 going away: a worker that drains, RFC 6455
   * §7.4.1) and resolves once they have all ended, each cut after closeTimeoutMs at the latest.
   */
  closeAll(code?: number, reason?: string): Promise<void>;
}

/** RFC 6455 §7.4.1 codes used here. */
export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_UNSUPPORTED_DATA = 1003;
export const CLOSE_ABNORMAL = 1006;
export const CLOSE_INTERNAL_ERROR = 1011;

/** Messages received and not yet taken by receive(): past this the socket is paused (TCP back-pressure). */
const MAX_QUEUED_MESSAGES = 64;
const DEFAULT_CLOSE_TIMEOUT_MS = 2_000;
/** Well under the 60 s idle timeouts of the web tier and nginx, as the SSE stream's pings (app/live/events.ts). */
export const DEFAULT_PING_INTERVAL_MS = 15_000;

/** RFC 6455 §4.1: the opening handshake is a GET whose Upgrade field names `websocket` (case-insensitive). */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  const upgrade = req.headers.upgrade;
  return req.method === 'GET' && typeof upgrade === 'string' && upgrade.split(',').some((token) => token.trim().toLowerCase() === 'websocket');
}

/**
 * An HTTP response written straight onto an upgrade request's socket (there is no
 * ServerResponse in node's 'upgrade' event), then the socket is ended: the connection was
 * asked to change protocols, so it carries no further request (RFC 9110 §7.8).
 */
export async function writeRawResponse(socket: Duplex, response: AppResponse): Promise<void> {
  const body = await bodyToBuffer(response.body);
  if (socket.destroyed) return;
  const lines = [`HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? 'Unknown'}`];
  for (const [name, value] of Object.entries(response.headers)) {
    const lower = name.toLowerCase();
    if (lower === 'content-length' || lower === 'connection' || lower === 'transfer-encoding') continue;
    for (const one of typeof value === 'string' ? [value] : value) lines.push(`${name}: ${one}`);
  }
  lines.push(`Content-Length: ${body.byteLength}`, 'Connection: close', '', '');
  socket.end(Buffer.concat([Buffer.from(lines.join('\r\n'), 'latin1'), body]));
}

/** The handshake as an AppRequest (what handle() would get), with no body: the connection carries messages instead. */
export function handshakeRequest(req: IncomingMessage, requestId: string): AppRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  const socket = req.socket;
  return {
    method: req.method ?? 'GET',
    target: req.url ?? '/',
    httpVersion: req.httpVersion,
    headers,
    body: new Uint8Array(0),
    remoteAddress: socket.remoteAddress ?? '',
    remotePort: socket.remotePort ?? 0,
    localAddress: socket.localAddress ?? '',
    localPort: socket.localPort ?? 0,
    requestId,
  };
}

export function jsonError(status: number, code: string, message: string, requestId: string): AppResponse {
  return {
    status,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
    body: `${JSON.stringify({ error: { status, code, message, requestId } })}\n`,
  };
}

/** The close code ws's receiver chose for an error (its kStatusCode symbol); ws itself sends it. */
function closeCodeOf(error: Error): number | undefined {
  const fields = error as unknown as Record<symbol, unknown>;
  for (const symbol of Object.getOwnPropertySymbols(error)) {
    if (symbol.description === 'status-code' && typeof fields[symbol] === 'number') return fields[symbol] as number;
  }
  return undefined;
}

export function createWebSocketAdapter(options: WebSocketAdapterOptions): WebSocketAdapter {
  const { app } = options;
  const closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
  const accepted = new Map<WebSocket, Promise<void>>();
  const pingIntervalMs = options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
  /** Connections pinged and not answered since the last tick. */
  const unanswered = new Set<WebSocket>();
  let pinger: NodeJS.Timeout | undefined;
  // One timer for every connection (the pattern in ws's README, "How to detect and close broken
  // connections?"), running only while some connection is open.
  function pingAll(): void {
    for (const socketWs of accepted.keys()) {
      if (socketWs.readyState !== socketWs.OPEN) continue;
      if (unanswered.has(socketWs)) {
        // No pong for a whole interval: RFC 6455 §5.5.3 says a peer answers a ping as soon as it
        // can, so nothing is listening at the other end any more.
        socketWs.terminate();
        continue;
      }
      unanswered.add(socketWs);
      socketWs.ping();
    }
  }
  /** Per handshake: what accept() asked for (protocol, extra headers). */
  const acceptOptions = new WeakMap<IncomingMessage, { protocol?: string | undefined; headers?: Readonly<Record<string, string>> | undefined }>();
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxMessageBytes,
    clientTracking: false,
    // Compression off: permessage-deflate (RFC 7692) costs memory per connection and has had
    // zip-bomb style reports (ws#1369); the live feed's messages are small JSON.
    perMessageDeflate: false,
    handleProtocols: (_protocols, req) => acceptOptions.get(req)?.protocol ?? false,
  });
  wss.on('headers', (headers, req) => {
    for (const [name, value] of Object.entries(acceptOptions.get(req)?.headers ?? {})) headers.push(`${name}: ${value}`);
  });

  function handle(req: IncomingMessage, socket: Duplex, head: Buffer, request: AppRequest, log: Logger): void {
    const startedAt = process.hrtime.bigint();
    // Until ws owns the socket, a reset from the client must not become an uncaught 'error'.
    const onEarlyError = (error: Error): void => log.debug({ err: error }, 'websocket client went away during the handshake');
    socket.on('error', onEarlyError);
    let phase: 'handshake' | 'accepting' | 'open' | 'refused' | 'closed' = 'handshake';
    let ws: WebSocket | undefined;
    const queue: AppWebSocketEvent[] = [];
    let waiting: ((event: AppWebSocketEvent) => void) | undefined;
    let closeEvent: { code: number; reason: string } | undefined;
    let resolveClosed: (value: { code: number; reason: string }) => void = () => undefined;
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      resolveClosed = resolve;
    });
    let messagesIn = 0;
    let messagesOut = 0;

    function push(event: AppWebSocketEvent): void {
      if (waiting !== undefined) {
        const take = waiting;
        waiting = undefined;
        take(event);
        return;
      }
      queue.push(event);
      if (queue.length >= MAX_QUEUED_MESSAGES) ws?.pause();
    }

    function ended(code: number, reason: string): void {
      if (closeEvent !== undefined) return;
      closeEvent = { code, reason };
      phase = 'closed';
      push({ type: 'close', code, reason });
      resolveClosed(closeEvent);
    }

    function refuse(response: AppResponse): Promise<void> {
      if (phase !== 'handshake') return Promise.resolve();
      phase = 'refused';
      ended(CLOSE_ABNORMAL, 'handshake refused');
      log.info({ tier: 'app', url: req.url, status: response.status, websocket: true }, 'websocket refused');
      return writeRawResponse(socket, response).catch((error: unknown) => {
        log.debug({ err: error }, 'websocket refusal not written');
        socket.destroy();
      });
    }

    // The client can go before the application decides: receive() then says so.
    socket.once('close', () => {
      if (phase === 'handshake' || phase === 'accepting') ended(CLOSE_ABNORMAL, 'client went away during the handshake');
    });

    function onOpen(socketWs: WebSocket): void {
      socket.off('error', onEarlyError);
      ws = socketWs;
      phase = 'open';
      let finished: () => void = () => undefined;
      accepted.set(socketWs, new Promise<void>((resolve) => {
        finished = resolve;
      }));
      socketWs.on('pong', () => unanswered.delete(socketWs));
      if (pingIntervalMs > 0 && pinger === undefined) {
        pinger = setInterval(pingAll, pingIntervalMs);
        pinger.unref();
      }
      socketWs.on('message', (data: RawData, isBinary: boolean) => {
        messagesIn += 1;
        const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
        push({ type: 'message', data: isBinary ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes.toString('utf8') });
      });
      socketWs.on('error', (error: Error & { code?: string }) => {
        // ws has already sent the close frame its receiver chose: 1009 for a message over
        // maxPayload, 1007 for text that is not UTF-8, 1002 for a protocol error (RFC 6455 §7.4.1).
        log.warn({ url: req.url, wsError: error.code ?? error.message, closeCode: closeCodeOf(error) ?? null }, 'websocket closed on bad input');
      });
      socketWs.on('close', (code: number, reason: Buffer) => {
        accepted.delete(socketWs);
        unanswered.delete(socketWs);
        if (accepted.size === 0 && pinger !== undefined) {
          clearInterval(pinger);
          pinger = undefined;
        }
        finished();
        ended(code, reason.toString('utf8'));
        const ms = Number(process.hrtime.bigint() - startedAt) / 1e6;
        log.info({ tier: 'app', url: req.url, status: 101, code, messagesIn, messagesOut, ms: Math.round(ms * 1000) / 1000 }, 'websocket');
      });
    }

    const connection: AppWebSocket = {
      accept(acceptWith) {
        if (phase !== 'handshake') return Promise.reject(new Error(`accept() after the handshake was ${phase === 'closed' ? 'abandoned by the client' : 'answered'}`));
        phase = 'accepting';
        acceptOptions.set(req, { protocol: acceptWith?.protocol, headers: acceptWith?.headers });
        return new Promise<void>((resolve, reject) => {
          // ws answers a malformed handshake (no Sec-WebSocket-Key, a version other than 13) with
          // 400 itself (RFC 6455 §4.2.2) and destroys the socket; the callback then never runs.
          socket.once('close', () => {
            if (phase === 'accepting' || phase === 'closed') reject(new Error('the WebSocket handshake did not complete'));
          });
          wss.handleUpgrade(req, socket, head, (socketWs) => {
            onOpen(socketWs);
            resolve();
          });
        });
      },
      reject: refuse,
      receive() {
        const next = queue.shift();
        if (queue.length < MAX_QUEUED_MESSAGES / 2 && ws?.isPaused === true) ws.resume();
        if (next !== undefined) {
          // After the close every call answers close again, as ASGI's websocket.disconnect does.
          if (next.type === 'close') queue.unshift(next);
          return Promise.resolve(next);
        }
        if (closeEvent !== undefined) return Promise.resolve({ type: 'close', ...closeEvent });
        return new Promise((resolve) => {
          waiting = resolve;
        });
      },
      send(data) {
        if (ws === undefined || phase !== 'open' || ws.readyState !== ws.OPEN) return Promise.reject(new Error('the WebSocket is not open'));
        const socketWs = ws;
        messagesOut += 1;
        return new Promise<void>((resolve, reject) => {
          socketWs.send(data, { binary: typeof data !== 'string' }, (error) => (error ? reject(error) : resolve()));
        });
      },
      close(code = CLOSE_NORMAL, reason = '') {
        // ASGI: a close before accept refuses the handshake with 403.
        if (phase === 'handshake') {
          void refuse(jsonError(403, 'APP_ERR_FORBIDDEN', 'the application refused this WebSocket', request.requestId));
          return;
        }
        if (ws !== undefined && ws.readyState === ws.OPEN) ws.close(code, reason);
      },
      closed,
    };

    let entry: Promise<void>;
    try {
      entry = app.websocket === undefined
        ? refuse(jsonError(404, 'APP_ERR_NOT_FOUND', 'this application has no WebSocket endpoints', request.requestId))
        : app.websocket(request, connection);
    } catch (error) {
      entry = Promise.reject(error);
    }
    entry.then(
      () => {
        // Returned without answering: ASGI refuses such a handshake with 403.
        if (phase === 'handshake') void refuse(jsonError(403, 'APP_ERR_FORBIDDEN', 'the application did not accept this WebSocket', request.requestId));
      },
      (error: unknown) => {
        log.error({ err: error, url: req.url }, 'the application failed on this WebSocket');
        if (phase === 'handshake') void refuse(jsonError(500, 'APP_ERR_INTERNAL', 'Internal Server Error', request.requestId));
        // RFC 6455 §7.4.1: 1011, the server met a condition that kept it from fulfilling the request.
        else if (ws !== undefined && ws.readyState === ws.OPEN) ws.close(CLOSE_INTERNAL_ERROR, 'internal error');
      },
    );
  }

  async function closeAll(code = CLOSE_GOING_AWAY, reason = 'server going away'): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const [socketWs, done] of accepted) {
      if (socketWs.readyState === socketWs.OPEN) socketWs.close(code, reason);
      // RFC 6455 §7.1.1: the server closes TCP once the client's closing frame is in; a client
      // that never answers is cut.
      const timer = setTimeout(() => socketWs.terminate(), closeTimeoutMs);
      waits.push(done.finally(() => clearTimeout(timer)));
    }
    await Promise.all(waits);
  }

  return {
    handle,
    get open() {
      return accepted.size;
    },
    closeAll,
  };
}
