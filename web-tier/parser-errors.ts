/**
 * What never becomes a request: CONNECT (this server tunnels nothing) and what node's parser
 * rejects (`clientError`). Each gets a raw answer and one access-log line of its own, with a
 * fresh request id. RFC 9112 §9.3.2: responses go in request order, so when the parser fails
 * on bytes that follow requests it has already handed over (pipelined, or in the same packet),
 * their responses are written in full first; then the error, then a lingering close.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../common/logger.js';
import { clientErrorStatus, type ClientErrorLike, type LimitOptions } from './limits.js';
import { isLingering, lingeringClose, type LingerOptions } from './lingering-close.js';

const REASON: Readonly<Record<number, string>> = {
  400: 'Bad Request', 408: 'Request Timeout', 413: 'Content Too Large', 414: 'URI Too Long',
  431: 'Request Header Fields Too Large', 501: 'Not Implemented', 505: 'HTTP Version Not Supported',
};

/** What the server knows of one connection's requests. */
interface Connection {
  /** Responses not yet closed, in request order (node writes them in that order). */
  readonly open: Set<ServerResponse>;
  /** The last request read: a parser error while its body is incomplete belongs to it. */
  last: IncomingMessage | undefined;
  /** The error answer, once the parser failed: written when `open` holds nothing it must follow. */
  failed: (() => void) | undefined;
}

export interface ParserErrorOptions {
  readonly logger: Logger;
  readonly limits: () => Pick<LimitOptions, 'maxUrlBytes'>;
  readonly linger: () => LingerOptions;
}

export interface ParserErrors {
  /** Called for every request the server reads, before it is answered. */
  onRequest(req: IncomingMessage, res: ServerResponse): void;
}

/**
 * Writes a complete raw response on a socket the parser gave up on, then closes it lingering.
 * Not when a response on it has already begun (a bad chunk arriving while its own request is
 * answered): bytes must not be interleaved with that answer, so then the socket is destroyed.
 */
export function writeRawError(socket: Socket, status: number, code: string, requestId: string, linger: LingerOptions): void {
  const inProgress = (socket as Socket & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (!socket.writable || inProgress?.headersSent === true) {
    socket.destroy();
    return;
  }
  const reason = REASON[status] ?? 'Bad Request';
  const body = `${JSON.stringify({ error: { status, code, message: reason, requestId } })}\n`;
  socket.write(
    `HTTP/1.1 ${status} ${reason}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Cache-Control: no-store\r\n' +
      'X-Served-By: web\r\n' +
      `X-Request-Id: ${requestId}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
  // A timed-out client is slow, not sending: close without lingering (nginx does the same).
  lingeringClose(socket, status === 408 ? { ...linger, lingeringTimeMs: 0 } : linger);
}

export function answerParserErrors(server: Server, options: ParserErrorOptions): ParserErrors {
  const { logger } = options;
  const connections = new WeakMap<Socket, Connection>();
  const accessLine = (requestId: string, fields: Record<string, unknown>): void =>
    logger.child({ reqId: requestId }).info({ bytes: 0, ms: 0, tier: 'web', servedBy: 'web', ...fields }, 'request');

  function settle(connection: Connection): void {
    const failed = connection.failed;
    if (failed === undefined) return;
    for (const res of connection.open) {
      // The request the error cut short never completes: its answer is the error itself.
      if (res.req === connection.last && connection.last.complete !== true) continue;
      return;
    }
    connection.failed = undefined;
    failed();
  }

  server.on('connect', (req: IncomingMessage, socket: Socket) => {
    const requestId = randomUUID();
    accessLine(requestId, { method: req.method, url: req.url, status: 501 });
    writeRawError(socket, 501, 'WEB_ERR_NOT_IMPLEMENTED', requestId, options.linger());
  });
  server.on('clientError', (error: ClientErrorLike, socket: Socket) => {
    const connection = connections.get(socket);
    // The parser repeats its error for every later packet; the first one is being answered.
    if (isLingering(socket) || connection?.failed !== undefined) return;
    const mapped = clientErrorStatus(error, options.limits());
    if (mapped === undefined) {
      socket.destroy();
      return;
    }
    const requestId = randomUUID();
    accessLine(requestId, { method: '', url: '', status: mapped.status, parseError: error.code });
    const answer = (): void => writeRawError(socket, mapped.status, mapped.code, requestId, options.linger());
    if (connection === undefined) {
      answer();
      return;
    }
    connection.failed = answer;
    settle(connection);
  });

  return {
    onRequest(req, res) {
      const socket = req.socket;
      let connection = connections.get(socket);
      if (connection === undefined) {
        connection = { open: new Set(), last: undefined, failed: undefined };
        connections.set(socket, connection);
      }
      const tracked = connection;
      tracked.open.add(res);
      tracked.last = req;
      res.once('close', () => {
        tracked.open.delete(res);
        settle(tracked);
      });
    },
  };
}
