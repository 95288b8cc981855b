/**
 * The wrapper every APP_MODULE application runs inside, in every mode. An exception or a rejected
 * promise from one request, or an answer that is not an AppResponse, becomes a 500 for that
 * request alone, with its request id, logged once; the process keeps serving (gunicorn does the
 * same for an exception in a WSGI call). The body is dropped where HTTP forbids one (RFC 9110
 * §6.4.1: HEAD, 204, 304), which the built-in app does itself, so an adapter writes what it gets.
 * close() is awaited once however often it is called, and may be left out by the application.
 */
import type { AppRequest, AppResponse, AppWebSocket, Application } from './app-interface.js';
import type { Logger } from './logger.js';

function internalError(request: AppRequest): AppResponse {
  const body = JSON.stringify({ error: { status: 500, code: 'APP_ERR_INTERNAL', message: 'Internal Server Error', requestId: request.requestId } });
  return { status: 500, headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' }, body };
}

function isBody(body: unknown): boolean {
  return body === null || typeof body === 'string' || body instanceof Uint8Array
    || (typeof body === 'object' && body !== undefined && Symbol.asyncIterator in (body as object));
}

/** Why a value is not an AppResponse, or undefined when it is one. */
function shapeProblem(response: unknown): string | undefined {
  if (typeof response !== 'object' || response === null) return `handle() resolved to ${response === null ? 'null' : typeof response}, not { status, headers, body }`;
  const { status, headers, body } = response as Partial<AppResponse>;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) {
    return `status must be an integer from 200 to 599, got ${JSON.stringify(status)}`;
  }
  if (headers !== undefined && (typeof headers !== 'object' || headers === null)) return 'headers must be an object';
  if (body !== undefined && !isBody(body)) return 'body must be a string, a Uint8Array, an async iterable of Uint8Array, or null';
  return undefined;
}

export function guardApplication(app: Partial<Application> & Pick<Application, 'handle'>, logger: Logger): Application {
  let closed: Promise<void> | undefined;
  // The websocket entry is passed through as it is: the adapter (common/websocket-adapter.ts)
  // already turns its failure into a 500 or a 1011 close for that connection alone.
  const websocket = app.websocket;
  return {
    ...(typeof websocket === 'function' ? { websocket: (request: AppRequest, socket: AppWebSocket) => websocket.call(app, request, socket) } : {}),
    async handle(request) {
      let response: unknown;
      try {
        response = await app.handle(request);
      } catch (error) {
        logger.error({ err: error, reqId: request.requestId }, 'the application failed on this request');
        return internalError(request);
      }
      const problem = shapeProblem(response);
      if (problem !== undefined) {
        logger.error({ reqId: request.requestId, problem }, 'the application answered something that is not an AppResponse');
        return internalError(request);
      }
      const { status, headers, body } = response as AppResponse;
      const bodyless = request.method === 'HEAD' || status === 204 || status === 304;
      return { status, headers: headers ?? {}, body: bodyless ? null : body ?? null };
    },
    close() {
      closed ??= Promise.resolve().then(() => app.close?.());
      return closed;
    },
  };
}
