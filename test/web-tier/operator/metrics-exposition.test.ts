/**
 * The whole /-/metrics text for a fixed state, byte for byte: the metric table
 * (operator/metric-table.ts) must expose exactly what the hand-written prom-client blocks did
 * (names, help, types, label order, series order). Only the values that depend on the machine
 * (event-loop delay, resident memory, a request's duration sum) are masked.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ServerResponse } from 'node:http';
import { createLogger } from '../../../common/logger.js';
import type { RequestContext } from '../../../web-tier/context.js';
import { createWebMetrics } from '../../../web-tier/operator/metrics.js';

const logger = createLogger({ tier: 'web', level: 'silent' });

/** A request that took 100 s: every bucket but +Inf stays 0 however loaded the machine is. */
function finished(servedBy: RequestContext['servedBy'], status: number, method: string, bytes: number, metrics: ReturnType<typeof createWebMetrics>): void {
  const ctx: RequestContext = { requestId: 'r', startedAt: process.hrtime.bigint() - 100_000_000_000n, logger, pathname: '/x', search: '', servedBy: 'web' };
  metrics.onRequestStart(ctx);
  ctx.servedBy = servedBy;
  metrics.onRequestEnd(ctx, { statusCode: status, headersSent: true, req: { method } } as unknown as ServerResponse, bytes);
}

function mask(text: string): string {
  return text
    .replace(/^(twotier_web_event_loop_delay_seconds\{stat="\w+"\}) .+$/gm, '$1 <delay>')
    .replace(/^(twotier_web_resident_memory_bytes) \d+$/gm, '$1 <rss>')
    .replace(/^(twotier_web_request_duration_seconds_sum\{route="\w+"\}) \d+(?:\.\d+)?$/gm, '$1 <sum>');
}

async function fixedStateText(): Promise<string> {
  const metrics = createWebMetrics({ now: () => 0 });
  try {
    finished('static', 200, 'GET', 1024, metrics);
    finished('static', 304, 'GET', 0, metrics);
    finished('app', 502, 'POST', 17, metrics);
    finished('cgi', 200, 'BREW', 5, metrics);
    metrics.onRequestStart({ requestId: 'open', startedAt: process.hrtime.bigint(), logger, pathname: '/', search: '', servedBy: 'web' });
    metrics.onCgiSpawn();
    metrics.onCgiSpawn();
    metrics.onCgiExit(true);
    metrics.onStaticCacheLookup(true);
    metrics.onStaticCacheLookup(false);
    metrics.onStaticCacheLookup(true);
    metrics.watchUpstreams({
      upstreamStates: () => [
        { url: 'http://a:3000', healthy: true, latencyMsEwma: 12.5, active: 3, failures: 2 },
        { url: 'http://b:3000', healthy: false },
      ],
      stats: () => ({ retries: 7, queueFull: 1, queueTimeouts: 0, retryBudgetExhausted: 3 }),
    });
    metrics.watchPeerLimits({ stats: () => ({ refusedConnections: 4, limitedRequests: 9, peersConnected: 2, rateEntries: 6 }) as never });
    const first = await metrics.text();
    // A second scrape after the sources changed: series that went away must go (counters and
    // gauges read at scrape time are reset first), the rest follow their source.
    finished('static', 200, 'GET', 10, metrics);
    metrics.onCgiExit(false);
    metrics.watchUpstreams({ upstreamStates: () => [{ url: 'http://b:3000', healthy: true, failures: 1 }] });
    metrics.watchPeerLimits(undefined);
    return mask(`${first}\n----\n${await metrics.text()}`);
  } finally {
    metrics.close();
  }
}

/** Written by the hand-declared metrics.ts before the table replaced it (commit of this test). */
const EXPECTED = readFileSync(fileURLToPath(new URL('../../fixtures/metrics/web-exposition.txt', import.meta.url)), 'utf8');

t.test('the exposition text for a fixed state is unchanged', async (t) => {
  t.equal(await fixedStateText(), EXPECTED);
});
