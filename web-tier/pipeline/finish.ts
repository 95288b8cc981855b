/**
 * The last step, finish: when a tracked response closes (finished, or cut before it finished),
 * one access-log line and the request's metrics. The stamp stage tracks every response, so a
 * request refused by any stage is logged like one a handler answered.
 */
import type { Logger } from '../../common/logger.js';
import { accessLine } from '../access-log.js';
import type { RequestContext } from '../context.js';
import type { WebMetrics } from '../operator/metrics.js';
import type { ResponseSite } from '../response.js';

export function createFinish(parts: { logger: Logger; metrics: Pick<WebMetrics, 'onRequestEnd'>; draining: () => boolean }): ResponseSite {
  const { logger, metrics, draining } = parts;
  return {
    get draining() {
      return draining();
    },
    finished(res) {
      const ctx = res.ctx as RequestContext;
      const bytes = res.req.method === 'HEAD' ? 0 : res.bodyBytes;
      // Built only when it is written: at LOG_LEVEL=warn and above a request logs nothing.
      if (logger.isLevelEnabled('info')) {
        const ms = Number((process.hrtime.bigint() - ctx.startedAt) / 1000n) / 1000;
        logger.info(accessLine(res.req, res, ctx, res.accessUrl, bytes, ms), 'request');
      }
      metrics.onRequestEnd(ctx, res, bytes);
    },
  };
}
