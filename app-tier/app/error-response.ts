/**
 * Turns anything a view throws into a response: TwotierError → its status and code; store
 * errors → 400 (slug conflict) or 503; anything else → 500 carrying only the request id (the
 * error itself goes to the log, never to the client). JSON under /api/, an HTML page elsewhere.
 */
import type { AppRequest, AppResponse } from '../../common/app-interface.js';
import { TwotierError, isTwotierError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { json, html } from './responses.js';
import type { RouteEntry } from '../router/index.js';
import { html as markup } from './templates/html.js';
import { errorPage, layout } from './templates/layout.js';

/** Seconds a client should wait before retrying when the database is unavailable. */
const STORE_RETRY_AFTER_S = 5;

const TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  413: 'Content Too Large', 415: 'Unsupported Media Type', 500: 'Internal Server Error', 503: 'Service Unavailable',
};

export function isApiTarget(target: string): boolean {
  return /^(?:[a-z][a-z0-9+.-]*:\/\/[^/?#]*)?\/api(?:[/?#]|$)/i.test(target);
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function isStoreConflict(error: unknown): boolean {
  return errorCode(error) === 'STORE_CONFLICT';
}

/** Store errors are matched by code, so a store built from another copy of the module still maps. */
export function toTwotierError(error: unknown): TwotierError | null {
  if (isTwotierError(error)) return error;
  switch (errorCode(error)) {
    case 'STORE_CONFLICT': {
      const field = (error as { field?: unknown }).field;
      return new TwotierError('APP_ERR_VALIDATION', 'an article with this slug already exists in that month', {
        cause: error,
        field: typeof field === 'string' ? field : 'slug',
      });
    }
    case 'STORE_UNAVAILABLE':
      return new TwotierError('APP_ERR_STORE_UNAVAILABLE', 'the database is unavailable; retry shortly', {
        cause: error,
        headers: { 'Retry-After': String(STORE_RETRY_AFTER_S) },
      });
    default:
      return null;
  }
}

export function errorResponse(request: AppRequest, error: TwotierError, logger: Logger): AppResponse {
  if (error.code === 'APP_ERR_STORE_UNAVAILABLE') {
    logger.warn({ reqId: request.requestId, err: error.cause }, 'store unavailable');
  }
  const headers = { ...error.headers };
  if (isApiTarget(request.target)) {
    const body: Record<string, unknown> = { status: error.status, code: error.code, message: error.message };
    if (error.field !== undefined) body['field'] = error.field;
    body['requestId'] = request.requestId;
    return json(error.status, { error: body }, headers);
  }
  const title = TITLES[error.status] ?? 'Error';
  return html(error.status, errorPage({ status: error.status, title, message: error.message, requestId: request.requestId }), {
    ...headers,
    'Cache-Control': 'no-store',
  });
}

/** The 500 path: one log line with everything, a response with nothing but the request id. */
export function internalErrorResponse(request: AppRequest, error: unknown, logger: Logger): AppResponse {
  logger.error({ err: error, reqId: request.requestId, method: request.method, url: request.target }, 'unhandled error in view');
  const internal = new TwotierError('APP_ERR_INTERNAL', 'something went wrong; the log has the details under this request id');
  return errorResponse(request, internal, logger);
}

/**
 * The 404 of debug mode (APP_DEBUG), as Django's technical 404 shows it: the URL table in the
 * order it was tried, so a learner sees why a path matched nothing. Off by default: the list
 * tells a stranger every URL the application has.
 */
export function notFoundResponse(request: AppRequest, tried: readonly RouteEntry[]): AppResponse {
  const message = 'there is nothing at this address';
  if (isApiTarget(request.target)) {
    return json(404, { error: { status: 404, code: 'APP_ERR_NOT_FOUND', message, requestId: request.requestId, tried } });
  }
  const rows = tried.map((entry, index) => markup`<li value="${index + 1}"><code>${entry.pattern}</code> <small>${entry.kind}${entry.name === undefined ? '' : markup` [name='${entry.name}']`}</small></li>`);
  const main = markup`<h1>404 Not Found</h1>
<p>${message}: <code>${request.target}</code></p>
<p>Using the URL table of this application, these patterns were tried, in this order; the path matched none of them.
You see this because APP_DEBUG is on; without it this is a plain 404 page.</p>
<ol class="tried">${rows}</ol>
<p class="request-id">Request id: <code>${request.requestId}</code></p>`;
  return html(404, layout({ title: '404 Not Found', main }), { 'Cache-Control': 'no-store' });
}
