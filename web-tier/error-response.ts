import type { ServerResponse } from 'node:http';
import { TwotierError } from '../common/errors.js';
import { reasonRule } from '../common/request-rules.js';
import type { RequestContext } from './context.js';

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request', 403: 'Forbidden', 408: 'Request Timeout', 404: 'Not Found', 405: 'Method Not Allowed', 412: 'Precondition Failed',
  413: 'Content Too Large', 414: 'URI Too Long', 416: 'Range Not Satisfiable', 421: 'Misdirected Request',
  429: 'Too Many Requests', 431: 'Request Header Fields Too Large', 500: 'Internal Server Error', 501: 'Not Implemented',
  502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout', 505: 'HTTP Version Not Supported', 508: 'Loop Detected',
};

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

function wantsJson(accept: string | undefined, pathname: string): boolean {
  if (pathname.startsWith('/api/')) return true;
  return accept !== undefined && accept.includes('application/json') && !accept.includes('text/html');
}

/**
 * Answers with a short error page or JSON that names the status, the stable error code and
 * the request id: never a file-system path, an errno or a stack trace (those go to the log).
 * Safe to call once headers are sent: then the response is cut instead.
 */
export function sendError(res: ServerResponse, ctx: RequestContext, error: TwotierError, options: { close?: boolean; explain?: string } = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const status = error.status;
  const title = STATUS_TEXT[status] ?? 'Error';
  const accept = res.req?.headers.accept;
  const json = wantsJson(accept, ctx.pathname);
  // Only the syntax rules of common/request-rules.ts are shown; any other message stays in the log.
  // `explain`: a fixed sentence the caller wrote for the client (why an upgrade is refused), never an error's message.
  const rule = options.explain ?? (error.code === 'WEB_ERR_BAD_REQUEST' ? reasonRule(error.message) : undefined);
  const body = json
    ? JSON.stringify({ error: { status, code: error.code, message: rule ?? title, requestId: ctx.requestId } })
    : `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${status} ${title}</title></head>` +
      `<body><h1>${status} ${title}</h1>${rule === undefined ? '' : `<p>${escapeHtml(rule)}</p>`}<p>Request id: <code>${escapeHtml(ctx.requestId)}</code></p></body></html>\n`;
  const headers: Record<string, string | number> = {
    'Content-Type': json ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    'X-Request-Id': ctx.requestId,
    ...error.headers,
  };
  if (options.close === true) headers['Connection'] = 'close';
  res.writeHead(status, headers);
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}

export { TwotierError };
