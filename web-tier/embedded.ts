/**
 * Embedded mode: the application runs inside the web tier's own process (the seed chapter's
 * "interpreter embedded in the web server"), through the very same Application interface the
 * persistent workers and the CGI adapter use: toAppRequest → app.handle → writeAppResponse.
 * No socket hop, no second process; the price is that an application crash or a slow view now
 * shares the event loop with static file serving.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { joinHeaderLines, type AppHeaders, type AppResponse, type Application } from '../common/app-interface.js';
import { TwotierError, isTwotierError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { toAppRequest, writeAppResponse } from '../common/node-adapter.js';
import { loadAppModule } from '../common/app-module.js';
import { createWebSocketAdapter, handshakeRequest, isWebSocketUpgrade, jsonError, writeRawResponse } from '../common/websocket-adapter.js';
import type { LiveChannel } from '../common/live-cluster.js';
import { createApp } from '../app-tier/app/create-app.js';
import type { LiveHub } from '../app-tier/app/live/hub.js';
import { createWorkerLiveHub } from '../app-tier/live.js';
import { openStore } from '../app-tier/store/index.js';
import type { WebConfig } from './config.js';
import type { RequestContext, RequestHandler } from './context.js';
import { sendError } from './error-response.js';
import { buildRequestHeaderList, edgeFactsOf, normalizeAddress } from './proxy/headers.js';

export interface EmbeddedHandlerOptions {
  /** The application, already created (createApp). The handler owns it from now on: close() closes it. */
  readonly app: Application;
  readonly logger: Logger;
  /** WEB_TRUSTED_PROXIES: peers whose X-Forwarded-For/-Proto are kept, as the proxy keeps them. Default none. */
  readonly trustedProxies?: readonly string[];
  /** The built-in app's live feed: its streams end and it closes with the handler. */
  readonly live?: LiveHub | undefined;
  /** The largest WebSocket message a client may send; the app tier's APP_WS_MAX_MESSAGE_BYTES default when absent. */
  readonly wsMaxMessageBytes?: number | undefined;
}

/** The app tier's default for APP_WS_MAX_MESSAGE_BYTES (app-tier/config.ts). */
const DEFAULT_WS_MAX_MESSAGE_BYTES = 65_536;

/** Turns whatever the application (or reading the request) threw into the error the client sees. */
function toClientError(error: unknown): TwotierError {
  // A TwotierError thrown while reading the request (body limit, client abort) already says what
  // the client did wrong; anything else is the application's fault and stays a plain 500.
  if (isTwotierError(error)) return error;
  return new TwotierError('APP_ERR_INTERNAL', 'the embedded application failed', { cause: error });
}

/**
 * The header section the app tier would have received from the proxy for this request: the same
 * edge rules (proxy/headers.ts), so a client's X-Forwarded-Proto: https or X-Real-IP means here
 * exactly what it means in proxy mode (issue 12 items 1 and 6), and the framing fields the proxy
 * would have written. Joined into node's req.headers shape, as the app tier's adapter sees it.
 */
function edgeHeaders(req: IncomingMessage, requestId: string, trusted: ReadonlySet<string>): AppHeaders {
  const list = buildRequestHeaderList(req.rawHeaders, edgeFactsOf(req, requestId), trusted);
  const lines: [string, string][] = [];
  for (let index = 0; index < list.length; index += 2) lines.push([list[index] as string, list[index + 1] as string]);
  return joinHeaderLines(lines);
}

async function serve(app: Application, trusted: ReadonlySet<string>, req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
  let response: AppResponse;
  try {
    const headers = edgeHeaders(req, ctx.requestId, trusted);
    const request = { ...(await toAppRequest(req, ctx.requestId)), headers };
    response = await app.handle(request);
  } catch (error) {
    const clientError = toClientError(error);
    ctx.logger.error({ err: error, code: clientError.code }, 'embedded application failed');
    sendError(res, ctx, clientError);
    return;
  }
  try {
    await writeAppResponse(res, response);
  } catch (error) {
    // A streamed body that fails half-way cannot become an error page any more: sendError cuts
    // the connection when headers are out, so the client sees a truncated response, not a lie.
    ctx.logger.error({ err: error }, 'embedded response failed while writing');
    sendError(res, ctx, toClientError(error));
  }
}

/**
 * WEB_DYNAMIC=embedded's handler from the web tier's config: the store DATABASE_URL names and the
 * application built with the same APP_TOKEN the app tier enforces (config.app.token, read from the
 * one APP_TOKEN variable), so embedded writes without it answer 401 exactly as the app tier does;
 * likewise APP_MAX_ARTICLE_BODY_BYTES / APP_MAX_REQUEST_BODY_BYTES (400 naming body, 413).
 * main.ts imports this module only in embedded mode: the other modes never open the database here.
 */
export async function createEmbeddedApp(
  config: Pick<WebConfig, 'app' | 'server'>,
  logger: Logger,
  /**
   * APP_MODULE's context: the environment the operator gave this process, and where a relative path
   * starts (main passes both); under WEB_WORKERS > 1, the IPC channel to the web tier's primary.
   */
  where: { readonly env: Readonly<Record<string, string | undefined>>; readonly baseDir: string; readonly channel?: LiveChannel | undefined } = { env: {}, baseDir: '.' },
): Promise<EmbeddedHandler> {
  if (config.app.module !== undefined) {
    // The operator's application (issue 18), loaded as the app tier's workers load it.
    const app = await loadAppModule({
      spec: config.app.module,
      baseDir: where.baseDir,
      context: { logger: logger.child({ component: 'app' }), env: where.env, databaseUrl: config.app.databaseUrl, mode: 'embedded' },
      timeoutMs: config.app.moduleTimeoutMs,
    });
    return createEmbeddedHandler({ app, logger: logger.child({ component: 'embedded' }), trustedProxies: config.server.trustedProxies });
  }
  const store = await openStore(config.app.databaseUrl, { logger });
  // The live feed in this process, with the transport an app-tier worker would pick (app-tier/live.ts):
  // with Postgres, every process (web workers, app tiers on other boxes) hears every write through
  // LISTEN/NOTIFY and through nothing else, so no event arrives twice; else, under WEB_WORKERS > 1,
  // the web tier's primary relays it to every web worker (web-tier/cluster.ts); else this process alone.
  const live = await createWorkerLiveHub({ databaseUrl: config.app.databaseUrl, bufferEvents: 1_000, logger, channel: where.channel });
  const app = createApp({
    store, logger: logger.child({ component: 'app' }), appToken: config.app.token,
    maxArticleBodyBytes: config.app.maxArticleBodyBytes, maxRequestBodyBytes: config.app.maxRequestBodyBytes, live,
  });
  return createEmbeddedHandler({ app, logger: logger.child({ component: 'embedded' }), trustedProxies: config.server.trustedProxies, live });
}

function trustedSet(addresses: readonly string[]): ReadonlySet<string> {
  return new Set(addresses.map((address) => normalizeAddress(address)));
}

export interface EmbeddedHandler extends RequestHandler {
  /**
   * An `Upgrade: websocket` request (the web tier's upgrade path calls it): the application's
   * websocket entry in this process, as the app tier's workers run it (common/websocket-adapter.ts).
   * Owns the socket from here and ends it on every failure; never throws.
   */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, ctx: RequestContext): void;
  /** A reload's WEB_TRUSTED_PROXIES (server.ts reload): the same peers the proxy and the CGI gateway trust. */
  reconfigure(config: { readonly server: Pick<WebConfig['server'], 'trustedProxies'> }): void;
}

export function createEmbeddedHandler(options: EmbeddedHandlerOptions): EmbeddedHandler {
  const { app, logger } = options;
  // The app is built once (main.ts, at start-up); a reload's WEB_TRUSTED_PROXIES comes through reconfigure.
  let trusted = trustedSet(options.trustedProxies ?? []);
  const inFlight = new Set<Promise<void>>();
  let closing: Promise<void> | undefined;
  /** Set when the drain begins (drain() or close()): the WebSockets' 1001s, sent once. */
  let socketsClosed: Promise<void> | undefined;
  const websockets = createWebSocketAdapter({ app, maxMessageBytes: options.wsMaxMessageBytes ?? DEFAULT_WS_MAX_MESSAGE_BYTES });

  function drain(): void {
    if (socketsClosed !== undefined) return;
    // The event streams end with the feed; the WebSockets get RFC 6455 §7.4.1's 1001 going away.
    options.live?.end();
    socketsClosed = websockets.closeAll(1001, 'server going away');
  }

  return {
    handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void {
      ctx.servedBy = 'embedded';
      // setHeader before the app answers: writeHead merges it with the app's own headers.
      res.setHeader('X-Served-By', 'embedded');
      const done = serve(app, trusted, req, res, ctx).catch((error: unknown) => {
        // serve() handles its own failures; this only guards against a bug in sendError itself.
        ctx.logger.error({ err: error }, 'embedded handler failed');
        if (!res.destroyed) res.destroy();
      });
      inFlight.add(done);
      void done.finally(() => inFlight.delete(done));
    },

    upgrade(req, socket, head, ctx) {
      ctx.servedBy = 'embedded';
      socket.on('error', (error) => ctx.logger.debug({ err: error }, 'upgrade socket error'));
      const draining = socketsClosed !== undefined;
      if (draining || !isWebSocketUpgrade(req)) {
        const response = draining
          ? jsonError(503, 'WEB_ERR_DRAINING', 'the server is shutting down; connect again', ctx.requestId)
          : jsonError(400, 'WEB_ERR_BAD_REQUEST', 'only Upgrade: websocket on GET is served', ctx.requestId);
        writeRawResponse(socket, response).catch(() => socket.destroy());
        return;
      }
      // The same edge rules as for a request (X-Forwarded-*, X-Request-Id), as handle() applies them.
      const request = { ...handshakeRequest(req, ctx.requestId), headers: edgeHeaders(req, ctx.requestId, trusted) };
      websockets.handle(req, socket, head, request, ctx.logger);
    },

    reconfigure(config) {
      trusted = trustedSet(config.server.trustedProxies);
    },

    drain,

    close(): Promise<void> {
      // Requests already inside the app finish first: closing the store under a running view
      // would turn a graceful stop into 500s.
      if (closing !== undefined) return closing;
      drain();
      closing = Promise.allSettled([...inFlight, socketsClosed]).then(async () => {
        await app.close();
        await options.live?.close();
        logger.debug('embedded application closed');
      });
      return closing;
    },
  };
}
