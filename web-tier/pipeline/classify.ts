/**
 * Stage 4, classify: what the request is (classify.ts decides: health, operator, static, app,
 * cgi, asterisk), once, on a request the limits let through; a path that two parts of the
 * system could read differently is refused here (400). The mode (WEB_DYNAMIC) plays no part:
 * an app route is an app route, whoever serves it (route-handlers.ts).
 */
import { classifyTarget } from '../classify.js';
import { sendError, TwotierError } from '../error-response.js';
import type { LiveConfig } from '../server-live-config.js';
import type { Stage } from './exchange.js';

export function createClassify(live: LiveConfig): Stage {
  return function classify(exchange) {
    const { req, res, ctx, target } = exchange;
    const decision = 'kind' in target ? target : classifyTarget(req.method ?? '', target, live.classifyOptions);
    if (decision.kind === 'reject') {
      // The error page and the status page see the target as received, as for any refusal.
      ctx.pathname = exchange.res.accessUrl.split('?')[0] ?? '';
      ctx.search = '';
      ctx.logger.info({ code: decision.code, reason: decision.reason }, 'request refused');
      sendError(res, ctx, new TwotierError(decision.code, decision.reason));
      return true;
    }
    exchange.route = decision;
    ctx.pathname = decision.pathname;
    ctx.search = decision.search;
    return false;
  };
}
