/**
 * The web tier's server core. One direction, once per request:
 * socket → node's parser (clientError for what it rejects) → limits.ts → classify.ts →
 * exactly one handler (health | static | app | cgi) → response, with one access-log line.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../common/logger.js';
import { attachAccessLog } from './access-log.js';
import { classify, type Decision } from './classify.js';
import type { WebConfig } from './config.js';
import type { RequestContext, RequestHandler } from './context.js';
import { sendError, TwotierError } from './error-response.js';
import { createHealthHandler } from './health.js';
import { checkRequest, clientErrorStatus, hasBody, serverOptions, writeRawError } from './limits.js';
import { createStaticHandler } from './static/handler.js';
import { createProxyHandler, PROXY_DEFAULTS } from './proxy/handler.js';
import { createCgiHandler } from './cgi/handler.js';

/** The handlers a request can end in (health is the server's own). */
export interface WebHandlers {
  readonly static: RequestHandler;
  /** Serves the dynamic prefixes: the proxy to the app tier (default) or the app embedded in-process. */
  readonly app: RequestHandler & { hasHealthyUpstream?(): boolean };
  readonly cgi: RequestHandler;
}

export interface WebServerOptions {
  readonly config: WebConfig;
  readonly logger: Logger;
  /** Replace any handler (tests, embedded mode); the rest are built from config. */
  readonly handlers?: Partial<WebHandlers>;
}

export interface WebServer {
  readonly server: Server;
  listen(): Promise<AddressInfo>;
  close(): Promise<void>;
}

/** Incoming ids are kept only from trusted proxies, and only when they cannot inject anything into logs or headers. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const SERVER_ALLOW = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';

function peerAddress(socket: Socket): string {
  const address = socket.remoteAddress ?? '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

type Dispatch = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => void;

function buildHandlers(options: WebServerOptions, onLocalRedirect: Dispatch): WebHandlers {
  const { config, logger } = options;
  const given = options.handlers ?? {};
  const staticHandler = given.static ?? createStaticHandler({
    root: config.root,
    index: config.staticIndex,
    listingDirs: config.listingDirs,
    // zod's optional keys are `?: T | undefined`; the handler's are `?: T`.
    cacheControl: config.cacheControl.map((rule) => ({
      value: rule.value,
      ...(rule.prefix === undefined ? {} : { prefix: rule.prefix }),
      ...(rule.pattern === undefined ? {} : { pattern: rule.pattern }),
    })),
    followOutsideSymlinks: config.followOutsideSymlinks,
    cacheMaxBytes: config.staticCacheMaxBytes,
    cacheMaxFileBytes: config.staticCacheMaxFileBytes,
    statTtlMs: config.staticStatTtlMs,
    logger: logger.child({ component: 'static' }),
  });
  let app = given.app;
  if (app === undefined) {
    if (config.dynamic === 'embedded') throw new Error('WEB_DYNAMIC=embedded needs the embedded handler (handlers.app)');
    app = createProxyHandler({
      upstreams: config.upstreams,
      connectTimeoutMs: config.proxyConnectTimeoutMs,
      responseTimeoutMs: config.proxyResponseTimeoutMs,
      maxSocketsPerUpstream: config.proxyMaxSocketsPerUpstream,
      keepAliveIdleMs: config.proxyKeepAliveIdleMs,
      maxBodyBytes: config.maxBodyBytes,
      trustedProxies: config.trustedProxies,
      retryIdempotentOnReset: config.proxyRetryIdempotentOnReset,
      balance: config.proxyBalance,
      bodyIdleTimeoutMs: config.proxyBodyIdleTimeoutMs,
      maxQueue: config.proxyMaxQueue,
      queueTimeoutMs: config.proxyQueueTimeoutMs,
      activeHealth: config.proxyHealthIntervalMs === 0 || PROXY_DEFAULTS.activeHealth === false
        ? false
        : { ...PROXY_DEFAULTS.activeHealth, intervalMs: config.proxyHealthIntervalMs },
      logger: logger.child({ component: 'proxy' }),
    });
  }
  const cgi = given.cgi ?? createCgiHandler({
    cgiDir: config.cgiDir,
    timeoutMs: config.cgiTimeoutMs,
    maxProcesses: config.cgiMaxProcesses,
    maxBodyBytes: config.maxBodyBytes,
    serverSoftware: 'twotier',
    passEnv: { DATABASE_URL: config.databaseUrl },
    documentRoot: config.root,
    onLocalRedirect,
    logger: logger.child({ component: 'cgi' }),
  });
  return { static: staticHandler, app, cgi };
}

export function createWebServer(options: WebServerOptions): WebServer {
  const { config, logger } = options;
  const handlers = buildHandlers(options, (req, res, ctx) => {
    // A CGI local redirect (RFC 3875 §6.2.2) is served as if the new path had been requested.
    const decision = classify(req.method ?? 'GET', `${ctx.pathname}${ctx.search}`, { dynamicPrefixes: config.dynamicPrefixes });
    if (decision.kind === 'reject' || decision.kind === 'cgi') sendError(res, ctx, new TwotierError('WEB_ERR_NOT_FOUND', 'bad local redirect'));
    else dispatch(decision, req, res, Object.assign(ctx, { pathname: decision.pathname, search: decision.search }));
  });
  let draining = false;
  const health = createHealthHandler({
    ready: () => !draining && (config.dynamic !== 'proxy' || handlers.app.hasHealthyUpstream?.() !== false),
    reason: () => (draining ? 'draining' : 'no healthy upstream'),
  });
  const limitOptions = {
    maxBodyBytes: config.maxBodyBytes,
    maxUrlBytes: config.maxUrlBytes,
    maxHeaderBytes: config.maxHeaderBytes,
    serverNames: config.serverNames,
    headersTimeoutMs: config.headersTimeoutMs,
    requestTimeoutMs: config.requestTimeoutMs,
    keepAliveTimeoutMs: config.keepAliveTimeoutMs,
  };
  const trusted = new Set(config.trustedProxies);
  /** Sockets whose framing can no longer be trusted: nothing more is answered on them. */
  const doomed = new WeakSet<Socket>();

  function requestIdFor(req: IncomingMessage): string {
    const incoming = req.headers['x-request-id'];
    if (typeof incoming === 'string' && REQUEST_ID.test(incoming) && trusted.has(peerAddress(req.socket))) return incoming;
    return randomUUID();
  }

  /** X-Served-By and X-Request-Id on every response, whoever writes its head. */
  function stampHeaders(res: ServerResponse, ctx: RequestContext): void {
    const writeHead = res.writeHead;
    res.writeHead = function stampedWriteHead(this: ServerResponse, ...args: unknown[]): ServerResponse {
      if (!this.headersSent) {
        // The proxy labels the app's responses itself; an app-bound request whose head is
        // written without that label is the web tier's own answer (a 502/503/504 page).
        if (!this.hasHeader('x-served-by')) this.setHeader('X-Served-By', ctx.servedBy === 'app' ? 'web' : ctx.servedBy);
        if (!this.hasHeader('x-request-id')) this.setHeader('X-Request-Id', ctx.requestId);
        if (draining) this.setHeader('Connection', 'close');
      }
      return (writeHead as (...rest: unknown[]) => ServerResponse).apply(this, args);
    } as ServerResponse['writeHead'];
  }

  function refuse(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, error: TwotierError): void {
    // What follows this request on the socket cannot be framed reliably: answer, then close.
    doomed.add(req.socket);
    res.once('finish', () => req.socket.destroySoon());
    sendError(res, ctx, error, { close: true });
  }

  function dispatch(decision: Exclude<Decision, { kind: 'reject' }>, req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void {
    switch (decision.kind) {
      case 'health':
        health.handle(req, res, ctx);
        return;
      case 'asterisk':
        res.writeHead(204, { Allow: SERVER_ALLOW });
        res.end();
        return;
      case 'static':
        handlers.static.handle(req, res, ctx);
        return;
      case 'cgi':
        handlers.cgi.handle(req, res, ctx);
        return;
      case 'app':
        // WEB_DYNAMIC=cgi: ctx.pathname already reads /cgi-bin/app/<path> (see onRequest).
        if (config.dynamic === 'cgi') handlers.cgi.handle(req, res, ctx);
        else handlers.app.handle(req, res, ctx);
        return;
    }
  }

  function onRequest(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void {
    if (doomed.has(req.socket)) {
      req.socket.destroy();
      return;
    }
    const rawUrl = req.url ?? '';
    const decision = classify(req.method ?? '', rawUrl, { dynamicPrefixes: config.dynamicPrefixes });
    const requestId = requestIdFor(req);
    const ctx: RequestContext = {
      requestId,
      startedAt: process.hrtime.bigint(),
      logger: logger.child({ reqId: requestId }),
      pathname: decision.kind === 'reject'
        ? rawUrl.split('?')[0] ?? ''
        // WEB_DYNAMIC=cgi runs the app per request as the script cgi-bin/app, PATH_INFO = the path.
        : decision.kind === 'app' && config.dynamic === 'cgi' ? `/cgi-bin/app${decision.pathname}` : decision.pathname,
      search: decision.kind === 'reject' ? '' : decision.search,
      servedBy: 'web',
    };
    attachAccessLog(req, res, ctx, rawUrl);
    stampHeaders(res, ctx);

    const violation = checkRequest(req, limitOptions, decision.kind === 'reject' ? undefined : decision.authority);
    if (violation !== undefined) {
      ctx.logger.info({ code: violation.code, reason: violation.reason }, 'request refused');
      refuse(req, res, ctx, new TwotierError(violation.code, violation.reason));
      return;
    }
    if (decision.kind === 'reject') {
      ctx.logger.info({ code: decision.code, reason: decision.reason }, 'request refused');
      sendError(res, ctx, new TwotierError(decision.code, decision.reason));
      return;
    }
    if (decision.authority !== undefined) {
      // RFC 9112 §3.2.2: absolute-form's authority replaces Host. It only ever names this
      // server to the handlers: the proxy forwards to configured upstreams, never to it.
      req.headers.host = decision.authority;
      req.url = decision.target;
    }
    const consumesBody = decision.kind === 'app' || decision.kind === 'cgi';
    if (!consumesBody && hasBody(req)) {
      // The body is not read here; draining an unbounded chunked body to keep the
      // connection would cost more than a reconnect.
      res.setHeader('Connection', 'close');
    }
    if (req.headers.upgrade !== undefined) {
      // No protocol is ever switched to (the proxy drops Upgrade), but node's parser stops
      // reading after an Upgrade request: what follows it would wait forever. Close instead.
      res.setHeader('Connection', 'close');
    }
    if (expectsContinue && consumesBody) res.writeContinue();
    try {
      dispatch(decision, req, res, ctx);
    } catch (error) {
      // Handlers must not throw; if one does, this request fails alone.
      ctx.logger.error({ err: error }, 'handler threw');
      if (res.headersSent) res.destroy();
      // A bug here is not an upstream failure, so not 502; the catalogue's only 500 is APP_ERR_INTERNAL.
      else sendError(res, ctx, new TwotierError('APP_ERR_INTERNAL', 'handler failure', { cause: error }), { close: true });
    }
  }

  const server = createServer(serverOptions(limitOptions));
  server.on('request', (req: IncomingMessage, res: ServerResponse) => onRequest(req, res, false));
  // RFC 9110 §10.1.1: a body over the limit is refused before 100 Continue invites it.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => onRequest(req, res, true));
  server.on('connect', (req: IncomingMessage, socket: Socket) => {
    const requestId = randomUUID();
    logger.child({ reqId: requestId }).info({ method: req.method, url: req.url, status: 501, bytes: 0, ms: 0, servedBy: 'web' }, 'request');
    writeRawError(socket, 501, 'WEB_ERR_NOT_IMPLEMENTED', requestId);
  });
  server.on('clientError', (error: Error & { code?: string }, socket: Socket) => {
    const mapped = clientErrorStatus(error, limitOptions);
    if (mapped === undefined) {
      socket.destroy();
      return;
    }
    const requestId = randomUUID();
    logger.child({ reqId: requestId }).info({ method: '', url: '', status: mapped.status, bytes: 0, ms: 0, servedBy: 'web', parseError: error.code }, 'request');
    writeRawError(socket, mapped.status, mapped.code, requestId);
  });

  let closing: Promise<void> | undefined;
  return {
    server,
    listen(): Promise<AddressInfo> {
      return new Promise((resolve, reject) => {
        const onError = (error: Error): void => reject(error);
        server.once('error', onError);
        server.listen({ host: config.host, port: config.port }, () => {
          server.off('error', onError);
          // After start-up an 'error' is an accept() failure (EMFILE under a flood): log it
          // and keep serving the connections we have, as nginx does, instead of crashing.
          server.on('error', (error: Error) => logger.error({ err: error }, 'server error'));
          resolve(server.address() as AddressInfo);
        });
      });
    },
    close(): Promise<void> {
      closing ??= (async () => {
        draining = true;
        const closed = new Promise<void>((resolve) => {
          if (!server.listening) resolve();
          else server.close(() => resolve());
        });
        server.closeIdleConnections();
        // In-flight requests get shutdownTimeoutMs; then their sockets are cut.
        const timer = setTimeout(() => server.closeAllConnections(), config.shutdownTimeoutMs);
        timer.unref();
        await closed;
        clearTimeout(timer);
        await Promise.all([handlers.static, handlers.app, handlers.cgi].map((handler) => handler.close()));
      })();
      return closing;
    },
  };
}
