/**
 * One handler per route kind (classify.ts's RouteKind), built once at start-up: the table the
 * dispatch stage reads. Here, and only here, WEB_DYNAMIC chooses what serves the app routes:
 * the proxy to the app tier, the app in this process (embedded, loaded by main.ts), or
 * cgi-bin/app run per request. A reload swaps the proxy or the CGI gateway behind a stable
 * slot; the retired one finishes its requests before it is closed (server-drain.ts).
 */
import type { Logger } from '../common/logger.js';
import { classifyTarget, parseTarget, type RouteKind } from './classify.js';
import type { WebConfig } from './config.js';
import type { RequestHandler, UpgradeEntry } from './context.js';
import { sendError, TwotierError } from './error-response.js';
import { createHealthHandler } from './health.js';
import type { UpstreamSource } from './operator/upstream-view.js';
import { createHandlerDrain, type HandlerDrain } from './server-drain.js';
import { APP_SCRIPT, buildCgi, buildProxy, buildStatic, cgiKeysChanged, proxyKeysChanged, type Dispatch, type HandlerHooks, type WebHandlers } from './server-handlers.js';
import type { LiveConfig } from './server-live-config.js';

/** A handler a reload may replace; requests are counted on the one that took them. */
export interface Slot<H extends RequestHandler> extends RequestHandler {
  readonly current: H;
  /** `next` takes new requests; the old one is closed once its own have ended (bounded). */
  swap(next: H, boundMs: number): Promise<void>;
}

function createSlot<H extends RequestHandler>(initial: H, drain: HandlerDrain): Slot<H> {
  let current = initial;
  return {
    get current() {
      return current;
    },
    handle(req, res, ctx) {
      const handler = current;
      drain.track(handler, res);
      handler.handle(req, res, ctx);
    },
    // The handler in use now, if it takes upgrades; a retired one waits for the handshake's answer, not the connection after it.
    get upgrade(): UpgradeEntry | undefined {
      const handler = current;
      const upgrade = handler.upgrade;
      if (upgrade === undefined) return undefined;
      return (req, socket, head, ctx) => {
        drain.track(handler, ctx.response);
        upgrade.call(handler, req, socket, head, ctx);
      };
    },
    close: () => current.close(),
    drain: () => current.drain?.(),
    swap(next, boundMs) {
      const old = current;
      current = next;
      return drain.retire(old, boundMs);
    },
  };
}

/** WEB_DYNAMIC=cgi: the app runs per request as the script cgi-bin/app, the request's path its PATH_INFO (RFC 3875 §4.1.5). */
function cgiAsApp(cgi: RequestHandler): RequestHandler {
  return {
    handle(req, res, ctx) {
      cgi.handle(req, res, Object.assign(ctx, { pathname: `/cgi-bin/${APP_SCRIPT}${ctx.pathname}` }));
    },
    close: async () => undefined,
  };
}

/** The app slot when this process serves no app routes itself (WEB_DYNAMIC=cgi): no proxy, no health checks of an app tier that is not there. */
const NO_APP_TIER: RequestHandler = {
  handle: (_req, res, ctx) => sendError(res, ctx, new TwotierError('WEB_ERR_NOT_FOUND', 'no app tier in this mode')),
  close: async () => undefined,
};

const SERVER_ALLOW = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';
/** `OPTIONS *` (RFC 9112 §3.2.4): what the server as a whole allows. */
const ASTERISK: RequestHandler = {
  handle(_req, res) {
    res.writeHead(204, { Allow: SERVER_ALLOW });
    res.end();
  },
  close: async () => undefined,
};

function isUpstreamSource(handler: unknown): handler is UpstreamSource {
  return typeof (handler as Partial<UpstreamSource>).upstreamStates === 'function';
}

export interface RouteHandlers {
  readonly table: Readonly<Record<RouteKind, RequestHandler>>;
  readonly app: Slot<WebHandlers['app']>;
  /** Applies a reloaded config: a new proxy or CGI gateway when theirs changed. Resolves when the retired ones are closed. */
  rebuild(previous: WebConfig, config: WebConfig): Promise<void>;
  /** Shutdown has begun: the app handler ends what it holds open itself (RequestHandler.drain). */
  drain(): void;
  /** Closes static, app and cgi, and waits for retired handlers. */
  close(): Promise<void>;
}

export interface RouteHandlerOptions {
  readonly live: LiveConfig;
  readonly logger: Logger;
  /** The deployment's token for the proxy's Via element and loop check (proxy/loop-guard.ts). */
  readonly instanceToken: string;
  /** Handlers given instead of built (tests; the embedded app from main.ts). */
  readonly given: Partial<WebHandlers>;
  readonly hooks: HandlerHooks;
  readonly draining: () => boolean;
  /** The operator route, given the proxy's upstream view (absent when the app slot is no proxy). */
  readonly operator: (upstreams: UpstreamSource | undefined) => RequestHandler;
}

export function createRouteHandlers(options: RouteHandlerOptions): RouteHandlers {
  const { live, logger, given, hooks, instanceToken } = options;
  const config = live.config;
  if (given.app === undefined && config.server.dynamic === 'embedded') throw new Error('WEB_DYNAMIC=embedded needs the embedded handler (handlers.app)');
  const drain = createHandlerDrain(logger);
  // A CGI local redirect (RFC 3875 §6.2.2) is served as if the new path had been requested.
  const onLocalRedirect: Dispatch = (req, res, ctx) => {
    const parsed = parseTarget(`${ctx.pathname}${ctx.search}`);
    const decision = 'kind' in parsed ? parsed : classifyTarget(req.method ?? 'GET', parsed, live.classifyOptions);
    if (decision.kind === 'reject' || decision.kind === 'cgi' || decision.kind === 'operator') sendError(res, ctx, new TwotierError('WEB_ERR_NOT_FOUND', 'bad local redirect'));
    else table[decision.kind].handle(req, res, Object.assign(ctx, { pathname: decision.pathname, search: decision.search }));
  };
  const statics = given.static ?? buildStatic(config, logger, hooks);
  const app = createSlot<WebHandlers['app']>(given.app ?? (config.server.dynamic === 'proxy' ? buildProxy(config, logger, instanceToken) : NO_APP_TIER), drain);
  const cgi = createSlot(given.cgi ?? buildCgi(config, logger, onLocalRedirect, hooks), drain);
  // Live views: a reload swaps the proxy under the operator's feet.
  const upstreams: UpstreamSource = {
    upstreamStates: () => (isUpstreamSource(app.current) ? app.current.upstreamStates() : []),
    stats: () => (isUpstreamSource(app.current) ? app.current.stats?.() ?? {} : {}),
  };
  const table: Record<RouteKind, RequestHandler> = {
    health: createHealthHandler({
      ready: () => !options.draining() && (live.config.server.dynamic !== 'proxy' || app.current.hasHealthyUpstream?.() !== false),
      reason: () => (options.draining() ? 'draining' : 'no healthy upstream'),
    }),
    operator: options.operator(isUpstreamSource(app.current) ? upstreams : undefined),
    asterisk: ASTERISK,
    static: statics,
    app: config.server.dynamic === 'cgi' ? cgiAsApp(cgi) : app,
    cgi,
  };
  return {
    table,
    app,
    async rebuild(previous, next) {
      const retiring: Promise<void>[] = [];
      if (given.app === undefined && next.server.dynamic === 'proxy' && proxyKeysChanged(previous, next)) retiring.push(app.swap(buildProxy(next, logger, instanceToken), next.server.shutdownTimeoutMs));
      if (given.cgi === undefined && cgiKeysChanged(previous, next)) retiring.push(cgi.swap(buildCgi(next, logger, onLocalRedirect, hooks), next.server.shutdownTimeoutMs));
      await Promise.all(retiring);
    },
    drain() {
      app.drain?.();
    },
    async close() {
      await Promise.all([statics.close(), app.close(), cgi.close(), ...drain.pending()]);
    },
  };
}
