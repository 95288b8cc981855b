/**
 * The request path of an upgrade (node's 'upgrade' event: a request with `Connection: upgrade`
 * and an `Upgrade` field, handed over with its socket once node's parser has let go of it).
 * Both answer on a response bound to the socket, and close the connection after any answer but
 * a 101: the socket has no HTTP parser any more, so nothing after the request could be read.
 *
 * An Upgrade that does not offer websocket (curl --http2's h2c) is ignored, as RFC 9110 §7.8
 * allows and nginx does: the request goes down the ordinary path (handle-request.ts) as the
 * connection's last one. An upgrade offering websocket meets the same stages as any request
 * first (a request id and an access line, the limits and the client's request rate, classify,
 * the TLS edge), then, instead of dispatch:
 *
 *   not a valid handshake (not GET, not HTTP/1.1, a body) → 400
 *   not a dynamic path (static, health, operator, cgi-bin) → 400
 *   WEB_DYNAMIC=cgi, or an embedded app without an upgrade hook → 501, saying why
 *   over WEB_WS_MAX_CONNECTIONS → 503, over WEB_WS_MAX_PER_PEER → 429 (upgraded-connections.ts)
 *   else the app route's handler takes the socket (proxy/upgrade.ts, or the embedded hook)
 *
 * 400, not 426: RFC 9110 §15.5.22 makes 426 the server *requiring* a protocol (its Upgrade field
 * naming it), the opposite of a server declining one; §7.8 lets a server decline to switch, and
 * RFC 6455 §4.2.2 has a refused handshake answered with an ordinary 4xx.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { sendError, TwotierError } from '../error-response.js';
import { hasBody } from '../limits.js';
import { lingeringClose } from '../lingering-close.js';
import { WebResponse } from '../response.js';
import { createTlsEdge } from '../tls/edge-stage.js';
import type { UpgradedConnections } from '../upgraded-connections.js';
import { createClassify } from './classify.js';
import { createConnection } from './connection.js';
import { Exchange, type Stage } from './exchange.js';
import type { HandleRequest, PipelineParts } from './handle-request.js';
import { createLimits } from './limits.js';
import { createStamp } from './stamp.js';

/** A listener's way in for node's 'upgrade' event. */
export type HandleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface UpgradePipelineParts extends PipelineParts {
  readonly upgrades: UpgradedConnections;
  /** The ordinary request path, for an Upgrade this server ignores (not websocket). */
  readonly handleRequest: HandleRequest;
}

const NOT_WEBSOCKET = 'Only WebSocket upgrades are taken here: GET over HTTP/1.1 with "Upgrade: websocket" and no body (RFC 6455 §4.1).';
const NOT_DYNAMIC = 'This path is not served by the application, so it takes no WebSocket upgrade.';
const CGI_CANNOT = 'WEB_DYNAMIC=cgi runs one process per request, which ends with its response: it cannot hold a WebSocket connection. Run the app tier (WEB_DYNAMIC=proxy) or embedded for WebSockets.';
const NO_HOOK = 'The application served here takes no WebSocket upgrades.';

/** RFC 6455 §4.2.1: an Upgrade listing websocket, an ASCII case-insensitive token. */
export function offersWebSocket(req: IncomingMessage): boolean {
  const upgrade = req.headers.upgrade;
  return upgrade !== undefined && upgrade.split(',').some((token) => token.trim().toLowerCase() === 'websocket');
}

/** RFC 6455 §4.1: a WebSocket handshake is a GET over HTTP/1.1 or later, without a body. */
export function isWebSocketHandshake(req: IncomingMessage): boolean {
  return req.method === 'GET' && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1 && !hasBody(req) && offersWebSocket(req);
}

/** An error on a socket node no longer watches: without a listener it would be thrown out of the event loop. */
function ignoreSocketError(): void {}

export function createUpgradePipeline(parts: UpgradePipelineParts): HandleUpgrade {
  const { live, upgrades } = parts;
  const stages: readonly Stage[] = [
    createStamp(parts),
    createLimits(parts),
    createClassify(live),
    // Connection: close on every answer but the 101 (the upgrade's own fields replace it there).
    createConnection(() => live.linger),
    createTlsEdge(live, parts.httpsPort ?? (() => undefined)),
  ];

  function refuse(exchange: Exchange, error: TwotierError, explain: string): void {
    exchange.ctx.logger.info({ code: error.code, reason: explain }, 'upgrade refused');
    sendError(exchange.res, exchange.ctx, error, { close: true, explain });
  }

  function dispatch(exchange: Exchange, socket: Socket, head: Buffer): void {
    const { req, res, ctx, route } = exchange;
    if (!isWebSocketHandshake(req)) return refuse(exchange, new TwotierError('WEB_ERR_BAD_REQUEST', 'not a websocket upgrade'), NOT_WEBSOCKET);
    if (route.kind !== 'app') return refuse(exchange, new TwotierError('WEB_ERR_BAD_REQUEST', 'upgrade on a path that is not dynamic'), NOT_DYNAMIC);
    const upgrade = parts.routes.app.upgrade;
    if (upgrade === undefined) {
      const cgi = live.config.server.dynamic === 'cgi';
      return refuse(exchange, new TwotierError('WEB_ERR_NOT_IMPLEMENTED', cgi ? 'websocket under CGI' : 'no upgrade hook'), cgi ? CGI_CANNOT : NO_HOOK);
    }
    const limited = upgrades.admit(req, socket, head, ctx);
    if (limited !== undefined) {
      sendError(res, ctx, limited, { close: true });
      return;
    }
    try {
      upgrade(req, socket, head, Object.assign(ctx, { response: res }));
    } catch (error) {
      // Upgrade handlers must not throw; if one does, this handshake fails alone.
      ctx.logger.error({ err: error }, 'upgrade handler threw');
      if (res.headersSent) socket.destroy();
      else sendError(res, ctx, new TwotierError('WEB_ERR_INTERNAL', 'upgrade handler failure', { cause: error }), { close: true });
    }
  }

  return function handleUpgrade(req, duplex, head) {
    const socket = duplex as Socket;
    // Node took its own 'error' listener off with the parser.
    socket.on('error', ignoreSocketError);
    // A socket a refusal closed carries no more requests (accept.ts).
    if (parts.refusal.ignoredSince(socket) !== undefined) {
      socket.destroy();
      return;
    }
    const res = new WebResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    res.once('finish', () => {
      if (res.statusCode === 101) {
        // The handshake is answered: its access line now, and the socket is the connection's.
        res.detachSocket(socket);
        res.emit('close');
        upgrades.switched(socket);
        return;
      }
      // Whatever the client still sends (early frames) is read and dropped, bounded, so the
      // answer is not lost to a reset (lingering-close.ts).
      socket.resume();
      lingeringClose(socket, live.linger);
    });
    if (!offersWebSocket(req) && !hasBody(req)) {
      // Ignored (RFC 9110 §7.8): answered over HTTP/1.1 with Connection: close (connection.ts).
      // With a body it could not be: node's parser, gone, would have framed it (400 below).
      parts.handleRequest(req, res, false);
      return;
    }
    const exchange = new Exchange(req, res, false);
    for (const stage of stages) if (stage(exchange)) return;
    dispatch(exchange, socket, head);
  };
}
