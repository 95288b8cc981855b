/**
 * A listener: a node server that turns connections into requests for the pipeline. It wires
 * node's events to the web tier's parts — 'connection' to the per-peer cap (peer-guard.ts),
 * 'request' and 'checkContinue' to the pipeline (pipeline/handle-request.ts), 'clientError' and
 * 'connect' to raw answers (parser-errors.ts) — and applies the limits node enforces itself.
 * Plain HTTP today; a TLS listener is the same wiring around `https.createServer`, the stages
 * untouched.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../common/logger.js';
import { maxHeadersCountFor, serverOptions, type LimitOptions } from './limits.js';
import { answerParserErrors } from './parser-errors.js';
import type { PeerGuard } from './peer-guard.js';
import type { HandleRequest } from './pipeline/handle-request.js';
import type { HandleUpgrade } from './pipeline/handle-upgrade.js';
import { WebResponse } from './response.js';
import type { LiveConfig } from './server-live-config.js';

export interface Listener {
  readonly server: Server;
  listen(host: string, port: number): Promise<AddressInfo>;
  /** A reload's limits: node reads them per connection, so open connections keep theirs. */
  configure(limits: LimitOptions): void;
  /** Stops accepting, closes idle connections at once and cuts the rest after `boundMs`. */
  close(boundMs: number): Promise<void>;
}

export interface ListenerParts {
  readonly live: LiveConfig;
  readonly logger: Logger;
  readonly peerGuard: Pick<PeerGuard, 'onConnection'>;
  readonly handleRequest: HandleRequest;
  /** node's 'upgrade' (pipeline/handle-upgrade.ts); absent → node answers upgrades as requests (Connection: close). */
  readonly handleUpgrade?: HandleUpgrade;
}

/** Wires an http (or https) server, created with `serverOptions(limits)` and `ServerResponse: WebResponse`, to the pipeline. */
export function attachListener(server: Server, parts: ListenerParts): Listener {
  const { live, logger, peerGuard, handleRequest } = parts;
  server.on('request', (req: IncomingMessage, res: WebResponse) => handleRequest(req, res, false));
  // Per-client connection cap at accept (for TLS: the TCP socket, before any handshake work).
  server.on('connection', (socket: Socket) => peerGuard.onConnection(socket));
  // RFC 9110 §10.1.1: a body over the limit is refused before 100 Continue invites it.
  server.on('checkContinue', (req: IncomingMessage, res: WebResponse) => handleRequest(req, res, true));
  // Issue 16: `Connection: upgrade` requests; their sockets leave node's connection list (and its timeouts) here.
  if (parts.handleUpgrade !== undefined) server.on('upgrade', parts.handleUpgrade);
  server.maxHeadersCount = maxHeadersCountFor(live.limits);
  answerParserErrors(server, { logger, limits: () => live.limits, linger: () => live.linger });
  return {
    server,
    listen(host, port) {
      return new Promise((resolve, reject) => {
        const onError = (error: Error): void => reject(error);
        server.once('error', onError);
        server.listen({ host, port }, () => {
          server.off('error', onError);
          // After start-up an 'error' is an accept() failure (EMFILE under a flood): log it
          // and keep serving the connections we have, as nginx does, instead of crashing.
          server.on('error', (error: Error) => logger.error({ err: error }, 'server error'));
          resolve(server.address() as AddressInfo);
        });
      });
    },
    configure(limits) {
      const settings = serverOptions(limits);
      server.headersTimeout = settings.headersTimeout;
      server.requestTimeout = settings.requestTimeout;
      server.keepAliveTimeout = settings.keepAliveTimeout;
      server.maxHeadersCount = maxHeadersCountFor(limits);
      // maxHeaderSize is fixed per server by node: a bigger maxUrlBytes/maxHeaderBytes needs a restart.
    },
    async close(boundMs) {
      const closed = new Promise<void>((resolve) => {
        if (!server.listening) resolve();
        else server.close(() => resolve());
      });
      server.closeIdleConnections();
      // In-flight requests get the bound; then their sockets are cut.
      const timer = setTimeout(() => server.closeAllConnections(), boundMs);
      timer.unref();
      await closed;
      clearTimeout(timer);
    },
  };
}

/** The plain HTTP listener. */
export function createHttpListener(parts: ListenerParts): Listener {
  const server = createServer<typeof IncomingMessage, typeof WebResponse>({ ...serverOptions(parts.live.limits), ServerResponse: WebResponse });
  return attachListener(server, parts);
}
