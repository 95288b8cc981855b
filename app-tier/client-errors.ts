/**
 * What node's parser refuses in the app tier, answered as node does (status line, Connection:
 * close) but with a JSON body naming the rule a 400 broke (common/request-rules.ts): the app
 * port can be reached without the web tier (`nc 127.0.0.1 3000`, a multi-box app box), and a
 * learner typing a request by hand should read what to fix, as at the web tier.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import { parserErrorRule, RULES, type ParserErrorLike } from '../common/request-rules.js';

/** node's own statuses for parser errors (lib/_http_server.js socketOnError). */
function statusOf(code: string | undefined): [number, string] {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return [431, 'Request Header Fields Too Large'];
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return [413, 'Payload Too Large'];
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [408, 'Request Timeout'];
    default:
      return [400, 'Bad Request'];
  }
}

export function answerClientErrors(server: Server): void {
  server.on('clientError', (error: Error & ParserErrorLike, socket: Socket) => {
    const inProgress = (socket as Socket & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
    if (error.code === 'ECONNRESET' || !socket.writable || inProgress?.headersSent === true) {
      socket.destroy();
      return;
    }
    const [status, reason] = statusOf(error.code);
    const rule = status === 400 ? parserErrorRule(error) : undefined;
    if (rule === undefined) {
      socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\n\r\n`);
      return;
    }
    const body = `${JSON.stringify({ error: { status, code: 'APP_ERR_BAD_REQUEST', message: rule } })}\n`;
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
}

/**
 * RFC 9112 §3.2: an HTTP/1.1 request without Host is 400. node checks it itself
 * (requireHostHeader) with an empty body; the worker turns that off and asks this instead, so
 * its 400 names the rule.
 */
export function missingHostRule(req: IncomingMessage): string | undefined {
  return req.httpVersionMajor === 1 && req.httpVersionMinor >= 1 && req.headers.host === undefined ? RULES.missingHost : undefined;
}
