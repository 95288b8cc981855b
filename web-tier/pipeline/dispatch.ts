/**
 * Stage 6, dispatch: exactly one handler answers, the one route-handlers.ts built for the
 * route's kind. The mode was chosen there, once; nothing here knows about it.
 */
import type { RouteKind } from '../classify.js';
import type { RequestHandler } from '../context.js';
import { sendError, TwotierError } from '../error-response.js';
import type { Stage } from './exchange.js';

export type RouteTable = Readonly<Record<RouteKind, RequestHandler>>;

export function createDispatch(routes: RouteTable): Stage {
  return function dispatch({ req, res, ctx, route }) {
    try {
      routes[route.kind].handle(req, res, ctx);
    } catch (error) {
      // Handlers must not throw; if one does, this request fails alone (a bug, not an upstream failure: 500).
      ctx.logger.error({ err: error }, 'handler threw');
      if (res.headersSent) res.destroy();
      else sendError(res, ctx, new TwotierError('WEB_ERR_INTERNAL', 'handler failure', { cause: error }), { close: true });
    }
    return true;
  };
}
