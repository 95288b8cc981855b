/**
 * One app-tier worker: a plain http server that answers its own health checks and hands
 * every other request to the Application through the node adapter. The same object runs
 * under the cluster supervisor, under pm2 cluster mode, and in tests.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { Server as NetServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Application } from '../common/app-interface.js';
import type { Logger } from '../common/logger.js';
import { ERROR_CATALOGUE, type ErrorCode } from '../common/errors.js';
import { BodyTooLargeError, toAppRequest, writeAppResponse } from '../common/node-adapter.js';
import { createWebSocketAdapter, handshakeRequest, isWebSocketUpgrade, jsonError, writeRawResponse } from '../common/websocket-adapter.js';
import { answerClientErrors, missingHostRule } from './client-errors.js';
import type { AppConfig } from './config.js';
import type { WorkerMetrics } from './metrics.js';
import type { OperatorEndpoints } from './operator.js';
import { appTlsServerOptions, type AppTlsOptions } from './tls.js';

export type WorkerState = 'starting' | 'ready' | 'draining';

export interface WorkerServerOptions {
  readonly config: Pick<AppConfig, 'host' | 'port' | 'keepAliveTimeoutMs' | 'headersTimeoutMs' | 'requestTimeoutMs' | 'shutdownTimeoutMs'> & Partial<Pick<AppConfig, 'drainGraceMs' | 'maxHeaderFields' | 'maxRequestBodyBytes' | 'wsMaxMessageBytes' | 'wsPingIntervalMs'>>;
  readonly logger: Logger;
  readonly app: Application;
  /** Request counters, latency, bytes; none recorded when absent. */
  readonly metrics?: WorkerMetrics | undefined;
  /** /metrics and /-/workers, answered before the application; 404 from the app when absent. */
  readonly operator?: OperatorEndpoints | undefined;
  /** The route name a request resolves to (the `route` metrics label); "app" when absent. */
  readonly routeOf?: ((method: string, target: string) => string) | undefined;
  /**
   * APP_MAX_REQUESTS (with its jitter already added): once this many requests have reached the
   * application, onMaxRequests is called once (main asks its primary for a successor and the worker
   * serves on until that one listens; a standalone worker drains at once).
   */
  readonly maxRequests?: number | undefined;
  readonly onMaxRequests?: ((served: number) => void) | undefined;
  /** Listen with TLS (APP_TLS_CERT/APP_TLS_KEY, read by tls.ts); plain HTTP when absent. */
  readonly tls?: AppTlsOptions | undefined;
  /**
   * Called once when close() begins, before the WebSockets get their 1001: main ends the live
   * feed's streams here (Server-Sent Events responses never finish by themselves).
   */
  readonly onDraining?: (() => void) | undefined;
}

export interface WorkerServer {
  readonly server: Server;
  readonly state: WorkerState;
  listen(): Promise<AddressInfo>;
  /** Stops accepting, lets in-flight requests finish (bounded by shutdownTimeoutMs). Idempotent. */
  close(): Promise<void>;
}

/** An incoming X-Request-Id is kept when it looks like an id (it ends up in logs and headers). */
const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

function requestIdOf(req: IncomingMessage): string {
  const incoming = req.headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/**
 * Node closes the response it is writing when the connection goes, but never the ones it
 * queued behind it (pipelining): no 'close', so no access line and an in-flight gauge that never
 * comes down. Those are closed here as node closes the one on the wire: destroyed, then 'close'.
 */
const queuedBySocket = new WeakMap<Socket, Set<ServerResponse>>();

function closeQueued(this: Socket): void {
  const queued = queuedBySocket.get(this);
  queuedBySocket.delete(this);
  for (const res of queued ?? []) {
    if (res.socket !== null) continue;
    res.destroyed = true;
    res.emit('close');
  }
}

function trackQueued(socket: Socket, res: ServerResponse): void {
  let queued = queuedBySocket.get(socket);
  if (queued === undefined) {
    queued = new Set();
    queuedBySocket.set(socket, queued);
    socket.once('close', closeQueued);
  }
  queued.add(res);
  res.once('close', () => queued.delete(res));
}

/** When the config does not say: APP_WS_MAX_MESSAGE_BYTES's default. */
const DEFAULT_WS_MAX_MESSAGE_BYTES = 65_536;

/** When the config does not say: Apache's LimitRequestFields. */
const DEFAULT_MAX_HEADER_FIELDS = 100;

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

export function createWorkerServer(options: WorkerServerOptions): WorkerServer {
  const { config, logger, app, metrics, operator } = options;
  const routeOf = options.routeOf ?? (() => 'app');
  let state: WorkerState = 'starting';
  let closing: Promise<void> | undefined;
  let graceOver = false;
  const inFlight = new Set<ServerResponse>();
  let servedByApp = 0;

  // requireHostHeader off: missingHostRule answers it with a body that names the rule.
  // Over TLS the same request handling (https.Server is an http.Server over TLS sockets: node's docs).
  const server = options.tls === undefined
    ? createServer({ requireHostHeader: false }, onRequest)
    : createHttpsServer({ requireHostHeader: false, ...appTlsServerOptions(options.tls) }, onRequest) as unknown as Server;
  const websockets = createWebSocketAdapter({ app, maxMessageBytes: config.wsMaxMessageBytes ?? DEFAULT_WS_MAX_MESSAGE_BYTES, pingIntervalMs: config.wsPingIntervalMs });
  server.on('upgrade', onUpgrade);
  answerClientErrors(server);
  // The web tier's upstream keep-alive pool idles sockets out sooner than 65 s, so it is
  // always the proxy that closes an idle connection, never the app under a request the proxy
  // just sent (nodejs/node#20256). headersTimeout above keepAliveTimeout: nodejs/node#27363.
  server.keepAliveTimeout = config.keepAliveTimeoutMs;
  server.headersTimeout = config.headersTimeoutMs;
  server.requestTimeout = config.requestTimeoutMs;
  const maxHeaderFields = config.maxHeaderFields ?? DEFAULT_MAX_HEADER_FIELDS;
  // node keeps the first maxHeadersCount fields (default 2000) and drops the rest silently; one
  // more than the limit is kept so that too many is seen and refused, never truncated.
  server.maxHeadersCount = maxHeaderFields + 1;

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    const startedAt = process.hrtime.bigint();
    const reqId = requestIdOf(req);
    // pino's child() serialises its bindings through the redaction rules (logger.ts REDACT_PATHS):
    // made the first time this request writes a line, not for every request (at LOG_LEVEL=silent,
    // never). The lines are the same: the child's bindings are the same.
    let log: Logger | undefined;
    const requestLog = (): Logger => (log ??= logger.child({ reqId }));
    const socket = req.socket;
    const bytesBefore = socket.bytesWritten;
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    const operatorRoute = operator?.match(path);
    const route = path === '/healthz' || path === '/readyz' ? path.slice(1) : operatorRoute ?? routeOf(req.method ?? 'GET', req.url ?? '/');
    let requestBytes = 0;
    metrics?.requestStarted();
    inFlight.add(res);
    res.setHeader('X-Request-Id', reqId);
    if (state === 'draining') res.setHeader('Connection', 'close');
    if (res.socket === null) trackQueued(socket, res);
    res.once('close', () => {
      inFlight.delete(res);
      const ms = Number(process.hrtime.bigint() - startedAt) / 1e6;
      const finished = res.writableFinished;
      if (logger.isLevelEnabled(finished ? 'info' : 'warn')) {
        // tier: who answered (the web tier's access lines say static, app, cgi…; this is the app tier).
        const fields = { tier: 'app', method: req.method, url: req.url, status: res.statusCode, ms: Math.round(ms * 1000) / 1000 };
        if (finished) requestLog().info(fields, 'request');
        else requestLog().warn({ ...fields, aborted: true }, 'request');
      }
      // 499 (nginx's "client closed request") for a response that never completed.
      metrics?.requestFinished({ route, method: req.method ?? 'GET', status: finished ? res.statusCode : 499, seconds: ms / 1000, requestBytes, responseBytes: socket.bytesWritten - bytesBefore });
      // A keep-alive socket whose response was already under way when draining began is idle
      // now; close it so the server's 'close' is not held up by keepAliveTimeout.
      if (state === 'draining' && graceOver) setImmediate(() => server.closeIdleConnections());
    });

    if (req.rawHeaders.length / 2 > maxHeaderFields) {
      // RFC 6585 §5: 431; the application never sees a truncated header set.
      res.setHeader('Connection', 'close');
      sendJson(res, ERROR_CATALOGUE.APP_ERR_HEADERS_TOO_LARGE, { error: { code: 'APP_ERR_HEADERS_TOO_LARGE' satisfies ErrorCode, message: 'Request Header Fields Too Large', requestId: reqId } });
      req.resume();
      return;
    }
    const hostRule = missingHostRule(req);
    if (hostRule !== undefined) {
      res.setHeader('Connection', 'close');
      sendJson(res, ERROR_CATALOGUE.APP_ERR_BAD_REQUEST, { error: { code: 'APP_ERR_BAD_REQUEST' satisfies ErrorCode, message: hostRule, requestId: reqId } });
      req.resume();
      return;
    }
    if (path === '/healthz' || path === '/readyz') {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        sendJson(res, 405, { error: { code: 'APP_ERR_METHOD_NOT_ALLOWED' } }, { Allow: 'GET, HEAD' });
      } else if (path === '/healthz') {
        sendJson(res, 200, { status: 'ok' });
      } else if (state === 'ready') {
        sendJson(res, 200, { status: 'ready' });
      } else {
        sendJson(res, 503, { status: state }, { 'Retry-After': '1' });
      }
      req.resume();
      return;
    }
    if (operatorRoute !== undefined && operator !== undefined) {
      operator.handle(req, res, operatorRoute, requestLog());
      return;
    }
    void handleApp(req, res, reqId, requestLog, (bytes) => {
      requestBytes = bytes;
    });
    servedByApp += 1;
    // gunicorn's max_requests: this request is still answered (the drain waits for it); the
    // ones after it go to the other workers while this one is replaced.
    if (servedByApp === options.maxRequests) {
      requestLog().info({ served: servedByApp, maxRequests: options.maxRequests }, 'max requests reached: draining for a fresh worker');
      options.onMaxRequests?.(servedByApp);
    }
  }

  /**
   * node emits 'upgrade' (not 'request') for every request with an Upgrade field once a listener
   * exists. A WebSocket handshake goes to the application's websocket entry; any other protocol
   * (h2c…) is ignored as RFC 9110 §7.8 allows and the request answered as plain HTTP, on a
   * connection that then closes. Never a hang: every branch writes an answer or hands the
   * socket to ws.
   */
  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const reqId = requestIdOf(req);
    const log = logger.child({ reqId });
    socket.on('error', (error) => log.debug({ err: error }, 'upgrade socket error'));
    const answer = (response: Parameters<typeof writeRawResponse>[1]): void => {
      writeRawResponse(socket, { ...response, headers: { ...response.headers, 'X-Request-Id': reqId } }).catch(() => socket.destroy());
    };
    if (state === 'draining') {
      answer({ ...jsonError(503, 'APP_ERR_DRAINING', 'this worker is shutting down; connect again', reqId), headers: { 'Content-Type': 'application/json', 'Retry-After': '1' } });
      return;
    }
    const request = handshakeRequest(req, reqId);
    if (isWebSocketUpgrade(req)) {
      websockets.handle(req, socket, head, request, log);
      return;
    }
    const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if (hasBody) {
      answer(jsonError(400, 'APP_ERR_BAD_REQUEST', `Upgrade: ${req.headers.upgrade ?? ''} with a request body is not served here; send it without Upgrade`, reqId));
      return;
    }
    app.handle(request).then(answer, (error: unknown) => {
      log.error({ err: error }, 'request failed outside the application');
      answer(jsonError(500, 'APP_ERR_INTERNAL', 'Internal Server Error', reqId));
    });
  }

  async function handleApp(req: IncomingMessage, res: ServerResponse, reqId: string, log: () => Logger, onBody: (bytes: number) => void): Promise<void> {
    let request;
    try {
      request = await toAppRequest(req, reqId, { maxBodyBytes: config.maxRequestBodyBytes });
      onBody(request.body.byteLength);
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        // RFC 9110 §15.5.14: the rest of the body stays unread, so the connection cannot carry
        // another request; the app's own check (create-app.ts) answers the same for CGI/embedded.
        res.setHeader('Connection', 'close');
        sendJson(res, 413, { error: { status: 413, code: 'APP_ERR_BODY_TOO_LARGE', message: error.message, requestId: reqId } });
        return;
      }
      // The client went away mid-body (ECONNRESET / 'aborted'): nobody is left to answer.
      log().debug({ err: error }, 'request body not received');
      res.destroy();
      return;
    }
    try {
      const response = await app.handle(request);
      await writeAppResponse(res, response);
    } catch (error) {
      // The application answers its own errors with 500; this is the adapter's last guard.
      log().error({ err: error }, 'request failed outside the application');
      if (res.headersSent) res.destroy();
      else sendJson(res, 500, { error: { code: 'APP_ERR_INTERNAL', message: 'Internal Server Error', requestId: reqId } });
    }
  }

  function listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: config.host, port: config.port }, () => {
        server.off('error', reject);
        state = 'ready';
        resolve(server.address() as AddressInfo);
      });
    });
  }

  function close(): Promise<void> {
    if (closing !== undefined) return closing;
    state = 'draining';
    options.onDraining?.();
    // RFC 6455 §7.4.1: 1001, the server is going away; clients reconnect (through the web
    // tier) to a worker that stays. Not awaited here: 'close' below waits for their sockets.
    void websockets.closeAll(1001, 'server going away');
    closing = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        logger.warn({ inFlight: inFlight.size, shutdownTimeoutMs: config.shutdownTimeoutMs }, 'shutdown timeout: cutting remaining connections');
        server.closeAllConnections();
      }, config.shutdownTimeoutMs);
      // 'close' fires once every connection has ended; an error means it never listened.
      // net.Server's close, not http.Server's: since Node 19 the latter also closes every idle
      // keep-alive connection at once, under requests a proxy may be writing on them right now
      // (a POST reset that way cannot be replayed). Idle ones are closed after the grace below.
      // Done when every connection has ended AND the grace is over: a cluster primary may hand
      // this worker one more connection just as it stops listening, and only a worker still
      // alive can refuse it back to the primary (otherwise that connection hangs unanswered).
      let pending = 2;
      const settle = (): void => {
        pending -= 1;
        if (pending > 0) return;
        clearTimeout(timer);
        resolve();
      };
      NetServer.prototype.close.call(server, settle);
      // In-flight keep-alive responses that have not started get `Connection: close`, so the
      // client learns not to reuse the socket (RFC 9112 §9.6); idle sockets are closed now.
      for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
      // Idle keep-alive connections are closed after the grace, not at once: a proxy may be
      // writing a request on one right now, and a POST reset that way cannot be replayed
      // (RFC 9112 §9.3.1). Until then each request on them is answered with Connection: close.
      const endGrace = (): void => {
        graceOver = true;
        server.closeIdleConnections();
        settle();
      };
      const graceMs = Math.min(config.drainGraceMs ?? 0, config.shutdownTimeoutMs);
      if (graceMs === 0) endGrace();
      else setTimeout(endGrace, graceMs);
      // Logged once the listener is closed, so whoever reads it knows new connections are refused.
      logger.info({ inFlight: inFlight.size, shutdownTimeoutMs: config.shutdownTimeoutMs }, 'draining');
    });
    return closing;
  }

  return {
    server,
    get state() {
      return state;
    },
    listen,
    close,
  };
}
