/**
 * The web tier's server core. One direction, once per request:
 * socket → node's parser (clientError for what it rejects) → limits.ts → classify.ts →
 * exactly one handler (health | operator | static | app | cgi) → response, with one access-log line.
 * `reload(config)` swaps the proxy (upstreams) and limits without dropping a connection;
 * `close()` drains: readyz 503, listener closed, `Connection: close`, in-flight bounded.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../common/logger.js';
import { accessLine } from './access-log.js';
import { classify, type Decision } from './classify.js';
import { cgiEnabled, packageRoot, type WebConfig } from './config.js';
import { WebRequestContext, type RequestContext } from './context.js';
import { sendError, TwotierError } from './error-response.js';
import { createHealthHandler } from './health.js';
import { checkRequest, foreignAuthority, hasBody, maxHeadersCountFor, serverOptions, type LimitOptions } from './limits.js';
import { closeWhenAnswered, lingerInsteadOfClose, stopReading, type LingerOptions } from './lingering-close.js';
import { answerParserErrors } from './parser-errors.js';
import { createOperatorHandler } from './operator/handler.js';
import { createWebMetrics } from './operator/metrics.js';
import type { UpstreamSource } from './operator/upstream-view.js';
import { createPeerAllow } from './peer-allow.js';
import { createOperatorHostCheck } from '../common/operator-host.js';
import { createPeerGuard, peerLimitSettings } from './peer-guard.js';
import { handleReload, RELOAD_PATH, type OnReloadRequest } from './reload-endpoint.js';
import { requestIdFor } from './server-stamp.js';
import { responsesOwed, WebResponse, type ResponseSite } from './response.js';
import { createHandlerDrain } from './server-drain.js';
import { buildCgi, buildProxy, buildStatic, cgiKeysChanged, proxyKeysChanged, RESTART_KEYS, type Dispatch, type HandlerHooks, type WebHandlers } from './server-handlers.js';

export type { WebHandlers } from './server-handlers.js';

export interface WebServerOptions {
  readonly config: WebConfig;
  readonly logger: Logger;
  /** Replace any handler (tests, embedded mode); the rest are built from config. */
  readonly handlers?: Partial<WebHandlers>;
  /** `POST /-/reload`: main's config re-read (the same as SIGHUP); absent → 404. */
  readonly onReloadRequest?: OnReloadRequest;
}

export interface ReloadResult {
  /** Keys whose new values are in use. */
  readonly applied: readonly string[];
  /** Keys that changed but are read only at start-up (kept at their old values). */
  readonly needRestart: readonly string[];
}

export interface WebServer {
  readonly server: Server;
  listen(): Promise<AddressInfo>;
  /** Applies a validated config: upstreams, proxy and limits; open connections stay open. */
  reload(next: WebConfig): Promise<ReloadResult>;
  close(): Promise<void>;
}

const SERVER_ALLOW = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';

function limitsOf(config: WebConfig): LimitOptions {
  return {
    maxBodyBytes: config.maxBodyBytes, maxUrlBytes: config.maxUrlBytes, maxHeaderBytes: config.maxHeaderBytes, maxHeaderFields: config.maxHeaderFields, serverNames: config.serverNames,
    headersTimeoutMs: config.headersTimeoutMs, requestTimeoutMs: config.requestTimeoutMs, keepAliveTimeoutMs: config.keepAliveTimeoutMs,
  };
}

function lingerOf(config: WebConfig): LingerOptions {
  return { lingeringTimeMs: config.lingeringTimeMs, lingeringTimeoutMs: config.lingeringTimeoutMs, lingeringMaxBytes: config.lingeringMaxBytes };
}

/** Requests a refused connection may still carry (never answered) before it is cut: each costs node a req/res pair. */
const MAX_IGNORED_AFTER_REFUSAL = 16;

/** A request a proxy forwarded on someone else's behalf (RFC 7239, and the de-facto X-Forwarded-For / X-Real-IP). */
function forwardedByProxy(req: IncomingMessage): boolean {
  const { headers } = req;
  return headers['x-forwarded-for'] !== undefined || headers['forwarded'] !== undefined || headers['x-real-ip'] !== undefined;
}

function isUpstreamSource(handler: unknown): handler is UpstreamSource {
  return typeof (handler as Partial<UpstreamSource>).upstreamStates === 'function';
}

export function createWebServer(options: WebServerOptions): WebServer {
  const { logger } = options;
  const given = options.handlers ?? {};
  let config = options.config;
  let limitOptions = limitsOf(config);
  let trusted = new Set(config.trustedProxies);
  let allowPeer = createPeerAllow(config.operatorAllow);
  let allowHost = createOperatorHostCheck(config.operatorHosts);
  const onLocalRedirect: Dispatch = (req, res, ctx) => {
    // A CGI local redirect (RFC 3875 §6.2.2) is served as if the new path had been requested.
    const decision = classify(req.method ?? 'GET', `${ctx.pathname}${ctx.search}`, { dynamicPrefixes: config.dynamicPrefixes, cgi: cgiEnabled(config) });
    if (decision.kind === 'reject' || decision.kind === 'cgi' || decision.kind === 'operator') sendError(res, ctx, new TwotierError('WEB_ERR_NOT_FOUND', 'bad local redirect'));
    else dispatch(decision, req, res, Object.assign(ctx, { pathname: decision.pathname, search: decision.search }));
  };
  if (given.app === undefined && config.dynamic === 'embedded') throw new Error('WEB_DYNAMIC=embedded needs the embedded handler (handlers.app)');
  const metrics = createWebMetrics();
  // Per-client limits (nginx limit_conn / limit_req): a connection cap at accept, a request rate below.
  const peerGuard = createPeerGuard({ settings: peerLimitSettings(config), trustedProxies: config.trustedProxies, logger });
  metrics.watchPeerLimits(peerGuard);
  const hooks: HandlerHooks = {
    onCgiSpawn: () => metrics.onCgiSpawn(),
    onCgiExit: (failed) => metrics.onCgiExit(failed),
    onStaticCacheLookup: (hit) => metrics.onStaticCacheLookup(hit),
  };
  const handlers: { static: WebHandlers['static']; app: WebHandlers['app']; cgi: WebHandlers['cgi'] } = {
    static: given.static ?? buildStatic(config, logger, hooks),
    // WEB_DYNAMIC=cgi sends the dynamic prefixes to the CGI gateway: no proxy, no health checks of an app tier that is not there.
    app: given.app ?? (config.dynamic === 'proxy' ? buildProxy(config, logger) : {
      handle: (_req, res, ctx) => sendError(res, ctx, new TwotierError('WEB_ERR_NOT_FOUND', 'no app tier in this mode')),
      close: async () => undefined,
    }),
    cgi: given.cgi ?? buildCgi(config, logger, onLocalRedirect, hooks),
  };
  const drain = createHandlerDrain(logger);
  let draining = false;
  const site: ResponseSite = {
    get draining() { return draining; },
    finished(res) {
      const ctx = res.ctx as RequestContext;
      const bytes = res.req.method === 'HEAD' ? 0 : res.bodyBytes;
      // Built only when it is written: at LOG_LEVEL=warn and above a request logs nothing.
      if (logger.isLevelEnabled('info')) {
        const ms = Number((process.hrtime.bigint() - ctx.startedAt) / 1000n) / 1000;
        logger.info(accessLine(res.req, res, ctx, res.accessUrl, bytes, ms), 'request');
      }
      metrics.onRequestEnd(ctx, res, bytes);
    },
  };
  const health = createHealthHandler({
    ready: () => !draining && (config.dynamic !== 'proxy' || handlers.app.hasHealthyUpstream?.() !== false),
    reason: () => (draining ? 'draining' : 'no healthy upstream'),
  });
  // Live views: a reload swaps the proxy and the config under the operator's feet.
  const upstreams: UpstreamSource = {
    upstreamStates: () => (isUpstreamSource(handlers.app) ? handlers.app.upstreamStates() : []),
    stats: () => (isUpstreamSource(handlers.app) ? handlers.app.stats?.() ?? {} : {}),
  };
  const operator = createOperatorHandler({
    config: { get dynamic() { return config.dynamic; }, get upstreams() { return config.upstreams; } },
    logger: logger.child({ component: 'operator' }),
    metrics,
    ...(isUpstreamSource(handlers.app) ? { proxy: upstreams } : {}),
    benchResultsDir: join(packageRoot(), 'bench', 'results'),
    isAllowedPeer: (address) => allowPeer(address),
    isAllowedHost: (host) => allowHost(host),
  });
  const lingering = (): LingerOptions => lingerOf(config);
  /** Sockets whose framing can no longer be trusted: nothing more is answered on them (value: requests ignored since). */
  const doomed = new WeakMap<Socket, number>();

  function refuse(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, error: TwotierError): void {
    // What follows this request on the socket cannot be framed reliably: answer, then close,
    // lingering: the client may still be sending the body (nginx lingering_close).
    doomed.set(req.socket, 0);
    lingerInsteadOfClose(req.socket, lingering);
    res.once('finish', () => req.socket.destroySoon());
    sendError(res, ctx, error, { close: true });
  }

  function dispatch(decision: Exclude<Decision, { kind: 'reject' }>, req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void {
    switch (decision.kind) {
      case 'health':
        health.handle(req, res, ctx);
        return;
      case 'operator':
        if (!allowPeer(req.socket.remoteAddress ?? '')) {
          ctx.logger.info({ peer: req.socket.remoteAddress, code: 'WEB_ERR_FORBIDDEN' }, 'operator endpoint refused (WEB_OPERATOR_ALLOW)');
          sendError(res, ctx, new TwotierError('WEB_ERR_FORBIDDEN', 'peer not in operatorAllow'));
          return;
        }
        if (forwardedByProxy(req)) {
          // A proxy on the box (TLS termination in front, trusted or not) connects from loopback and,
          // with nginx's default Host $proxy_host, names an IP literal: both checks above pass for
          // any remote client it forwards. The app tier refuses forwarded requests the same way
          // (app-tier/operator-access.ts); the operator reaches these endpoints directly.
          ctx.logger.info({ peer: req.socket.remoteAddress, code: 'WEB_ERR_FORBIDDEN' }, 'operator endpoint refused (forwarded by a proxy)');
          sendError(res, ctx, new TwotierError('WEB_ERR_FORBIDDEN', 'operator endpoints are not answered through a proxy'));
          return;
        }
        if (!allowHost(req.headers.host)) {
          // DNS rebinding: a browser on an allowed peer, sent here by a page on the attacker's name.
          ctx.logger.info({ host: req.headers.host, code: 'WEB_ERR_MISDIRECTED' }, 'operator endpoint refused (Host not loopback, an IP address or WEB_OPERATOR_HOSTS)');
          sendError(res, ctx, new TwotierError('WEB_ERR_MISDIRECTED', 'Host is not an operator name'));
          return;
        }
        if (decision.pathname === RELOAD_PATH) handleReload(req, res, ctx, options.onReloadRequest);
        else operator.handle(req, res, ctx);
        return;
      case 'asterisk':
        res.writeHead(204, { Allow: SERVER_ALLOW });
        res.end();
        return;
      case 'static':
        handlers.static.handle(req, res, ctx);
        return;
      case 'cgi':
      case 'app': {
        // WEB_DYNAMIC=cgi: ctx.pathname already reads /cgi-bin/app/<path> (see onRequest).
        const handler = decision.kind === 'cgi' || config.dynamic === 'cgi' ? handlers.cgi : handlers.app;
        drain.track(handler, res);
        handler.handle(req, res, ctx);
        return;
      }
    }
  }

  function onRequest(req: IncomingMessage, res: WebResponse, expectsContinue: boolean): void {
    const ignored = doomed.get(req.socket);
    if (ignored !== undefined) {
      // Bytes after a refused request are not trusted as requests: never answered, never counted.
      doomed.set(req.socket, ignored + 1);
      if (ignored + 1 <= MAX_IGNORED_AFTER_REFUSAL) req.resume();
      // Once: stop reading, close after the answers still owed (responses ignored here are none of them).
      else if (ignored === MAX_IGNORED_AFTER_REFUSAL) closeWhenAnswered(req.socket, responsesOwed(req.socket).filter((owed) => (owed as WebResponse).ctx !== undefined), lingering());
      else stopReading(req.socket);
      return;
    }
    const rawUrl = req.url ?? '';
    const decision = classify(req.method ?? '', rawUrl, { dynamicPrefixes: config.dynamicPrefixes, cgi: cgiEnabled(config) });
    const ctx = new WebRequestContext(
      requestIdFor(req, trusted),
      process.hrtime.bigint(),
      logger,
      decision.kind === 'reject'
        ? rawUrl.split('?')[0] ?? ''
        // WEB_DYNAMIC=cgi runs the app per request as the script cgi-bin/app, PATH_INFO = the path.
        : decision.kind === 'app' && config.dynamic === 'cgi' ? `/cgi-bin/app${decision.pathname}` : decision.pathname,
      decision.kind === 'reject' ? '' : decision.search,
    );
    metrics.onRequestStart(ctx);
    res.track(ctx, site, rawUrl);

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
    // Health probes are never rate-limited (a 429 would take this server out of rotation), nor
    // the operator endpoints (WEB_OPERATOR_ALLOW peers only; a scraper must not be told 429).
    const retryAfter = decision.kind === 'health' || decision.kind === 'operator' ? undefined : peerGuard.retryAfter(req);
    if (retryAfter !== undefined) {
      const limited = new TwotierError('WEB_ERR_TOO_MANY_REQUESTS', 'client over its request rate', { headers: { 'Retry-After': String(retryAfter) } });
      // An unread body leaves the rest of the connection unframed: answer and close (refuse).
      if (hasBody(req)) refuse(req, res, ctx, limited);
      else sendError(res, ctx, limited);
      return;
    }
    if (decision.authority !== undefined) {
      if (config.serverNames.length === 0 && foreignAuthority(decision.authority, req.headers.host, req.socket.localAddress)) {
        ctx.logger.info({ code: 'WEB_ERR_MISDIRECTED', authority: decision.authority }, 'request refused: absolute-form for another host (not an open proxy)');
        sendError(res, ctx, new TwotierError('WEB_ERR_MISDIRECTED', 'absolute-form names another host'));
        return;
      }
      // RFC 9112 §3.2.2: absolute-form's authority replaces Host. It names this server (checked
      // above); the proxy forwards to configured upstreams only.
      req.headers.host = decision.authority;
      req.url = decision.target;
    }
    const consumesBody = decision.kind === 'app' || decision.kind === 'cgi';
    // The body is not read here; draining an unbounded chunked body to keep the connection would cost more than a reconnect.
    if (!consumesBody && hasBody(req)) res.setHeader('Connection', 'close');
    // A response that closes the connection while the body may still be arriving (413 from the
    // body limit, an error page, a static answer to a POST) must not be lost to an RST: linger.
    if (hasBody(req)) lingerInsteadOfClose(req.socket, lingering);
    // No protocol is ever switched to (the proxy drops Upgrade), but node's parser stops
    // reading after an Upgrade request: what follows it would wait forever. Close instead.
    if (req.headers.upgrade !== undefined) res.setHeader('Connection', 'close');
    if (expectsContinue && consumesBody) res.writeContinue();
    try {
      dispatch(decision, req, res, ctx);
    } catch (error) {
      // Handlers must not throw; if one does, this request fails alone (a bug, not an upstream failure: 500).
      ctx.logger.error({ err: error }, 'handler threw');
      if (res.headersSent) res.destroy();
      else sendError(res, ctx, new TwotierError('WEB_ERR_INTERNAL', 'handler failure', { cause: error }), { close: true });
    }
  }

  const server = createServer<typeof IncomingMessage, typeof WebResponse>({ ...serverOptions(limitOptions), ServerResponse: WebResponse });
  server.on('request', (req: IncomingMessage, res: WebResponse) => onRequest(req, res, false));
  server.on('connection', (socket: Socket) => peerGuard.onConnection(socket));
  // RFC 9110 §10.1.1: a body over the limit is refused before 100 Continue invites it.
  server.on('checkContinue', (req: IncomingMessage, res: WebResponse) => onRequest(req, res, true));
  server.maxHeadersCount = maxHeadersCountFor(limitOptions);
  answerParserErrors(server, { logger, limits: () => limitOptions, linger: () => lingerOf(config) });

  async function reload(next: WebConfig): Promise<ReloadResult> {
    const previous = config;
    const changed = (Object.keys(next) as (keyof WebConfig)[]).filter((key) => JSON.stringify(next[key]) !== JSON.stringify(previous[key]));
    const needRestart = changed.filter((key) => RESTART_KEYS.includes(key));
    const kept = Object.fromEntries(needRestart.map((key) => [key, previous[key]]));
    config = Object.freeze({ ...next, ...kept }) as WebConfig;
    limitOptions = limitsOf(config);
    const settings = serverOptions(limitOptions);
    // Read by node per connection: new connections get the new limits, open ones keep theirs.
    server.headersTimeout = settings.headersTimeout;
    server.requestTimeout = settings.requestTimeout;
    server.keepAliveTimeout = settings.keepAliveTimeout;
    server.maxHeadersCount = maxHeadersCountFor(limitOptions);
    // maxHeaderSize is fixed per server by node: a bigger maxUrlBytes/maxHeaderBytes needs a restart.
    trusted = new Set(config.trustedProxies);
    allowPeer = createPeerAllow(config.operatorAllow);
    allowHost = createOperatorHostCheck(config.operatorHosts);
    peerGuard.configure(peerLimitSettings(config), config.trustedProxies);
    handlers.app.reconfigure?.(config);
    const retiring: Promise<void>[] = [];
    if (given.app === undefined && config.dynamic === 'proxy' && proxyKeysChanged(previous, config)) {
      const old = handlers.app;
      handlers.app = buildProxy(config, logger);
      retiring.push(drain.retire(old, config.shutdownTimeoutMs));
    }
    if (given.cgi === undefined && cgiKeysChanged(previous, config)) {
      const old = handlers.cgi;
      handlers.cgi = buildCgi(config, logger, onLocalRedirect, hooks);
      retiring.push(drain.retire(old, config.shutdownTimeoutMs));
    }
    // The old handlers finish their requests in the background; the reload itself is done.
    void Promise.all(retiring).catch((error: unknown) => logger.error({ err: error }, 'closing a retired handler failed'));
    return { applied: changed.filter((key) => !needRestart.includes(key)), needRestart };
  }

  let closing: Promise<void> | undefined;
  return {
    server,
    reload,
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
        // Open /-/status/events streams are in-flight requests: end them first, or they hold the drain.
        await operator.close();
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
        await Promise.all([handlers.static.close(), handlers.app.close(), handlers.cgi.close(), ...drain.pending()]);
        metrics.close();
      })();
      return closing;
    },
  };
}
