/**
 * What never becomes a request: CONNECT (this server tunnels nothing) and what node's parser
 * rejects (`clientError`). Each gets a raw answer and one access-log line of its own, with a
 * fresh request id. RFC 9112 §9.3.2: responses go in request order, so when the parser fails
 * on bytes that follow requests it has already handed over (pipelined, or in the same packet),
 * their responses are written in full first; then the error, then a lingering close.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../common/logger.js';
import { parserErrorRule } from '../common/request-rules.js';
import { clientErrorStatus, type ClientErrorLike, type LimitOptions } from './limits.js';
import { isLingering, lingeringClose, type LingerOptions } from './lingering-close.js';
import { responsesOwed } from './response.js';

const REASON: Readonly<Record<number, string>> = {
  400: 'Bad Request', 408: 'Request Timeout', 413: 'Content Too Large', 414: 'URI Too Long',
  431: 'Request Header Fields Too Large', 501: 'Not Implemented', 505: 'HTTP Version Not Supported',
};

export interface ParserErrorOptions {
  readonly logger: Logger;
  readonly limits: () => Pick<LimitOptions, 'maxUrlBytes'>;
  readonly linger: () => LingerOptions;
}

/**
 * Writes a complete raw response on a socket the parser gave up on, then closes it lingering.
 * Not when a response on it has already begun (a bad chunk arriving while its own request is
 * answered): bytes must not be interleaved with that answer, so then the socket is destroyed.
 */
export function writeRawError(socket: Socket, status: number, code: string, requestId: string, linger: LingerOptions, message?: string): void {
  const inProgress = (socket as Socket & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (!socket.writable || inProgress?.headersSent === true) {
    socket.destroy();
    return;
  }
  const reason = REASON[status] ?? 'Bad Request';
  // A rule the request broke (common/request-rules.ts) says what to fix; otherwise the reason phrase.
  const body = `${JSON.stringify({ error: { status, code, message: message ?? reason, requestId } })}\n`;
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

/**
 * Runs `answer` once every response owed on the socket before the failed bytes has closed.
 * The request whose body the error cut short never completes: its answer is the error itself.
 */
function afterOwedResponses(socket: Socket, answer: () => void): void {
  const before = responsesOwed(socket).filter((res) => res.req.complete);
  let left = before.length;
  if (left === 0) {
    answer();
    return;
  }
  const onClose = (): void => {
    left -= 1;
    if (left === 0) answer();
  };
  for (const res of before) res.once('close', onClose);
}

export function answerParserErrors(server: Server, options: ParserErrorOptions): void {
  const { logger } = options;
  /** Sockets whose parse error is answered already or waits for earlier responses. */
  const failed = new WeakSet<Socket>();
  const accessLine = (requestId: string, fields: Record<string, unknown>): void =>
    logger.child({ reqId: requestId }).info({ bytes: 0, ms: 0, tier: 'web', servedBy: 'web', ...fields }, 'request');

  server.on('connect', (req: IncomingMessage, socket: Socket) => {
    const requestId = randomUUID();
    accessLine(requestId, { method: req.method, url: req.url, status: 501 });
    writeRawError(socket, 501, 'WEB_ERR_NOT_IMPLEMENTED', requestId, options.linger());
  });
  server.on('clientError', (error: ClientErrorLike, socket: Socket) => {
    // The parser repeats its error for every later packet; the first one is being answered.
    if (failed.has(socket) || isLingering(socket)) return;
    const mapped = clientErrorStatus(error, options.limits());
    if (mapped === undefined) {
      socket.destroy();
      return;
    }
    failed.add(socket);
    const requestId = randomUUID();
    accessLine(requestId, { method: '', url: '', status: mapped.status, parseError: error.code });
    const rule = mapped.status === 400 ? parserErrorRule(error) : undefined;
    afterOwedResponses(socket, () => writeRawError(socket, mapped.status, mapped.code, requestId, options.linger(), rule));
  });
}
