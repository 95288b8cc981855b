import t from 'tap';
import type { ServerResponse } from 'node:http';
import { createLogger } from '../../../common/logger.js';
import type { RequestContext } from '../../../web-tier/context.js';
import { createWebMetrics, methodLabel } from '../../../web-tier/operator/metrics.js';
import type { UpstreamSource } from '../../../web-tier/operator/upstream-view.js';
import type { ProxyHandler } from '../../../web-tier/proxy/handler.js';
import { histogramSeries, parseExposition, sampleValue, scrape, startHarness, startStubUpstream } from './harness.js';

// Compile-time only (tsc in npm test): the real proxy handler can be handed to the operator as is.
const proxyIsUpstreamSource = (proxy: ProxyHandler): UpstreamSource => proxy;
void proxyIsUpstreamSource;

const bound = (le: string): number => (le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le));
const logger = createLogger({ tier: 'web', level: 'silent' });

function fakeContext(servedBy: RequestContext['servedBy'] = 'web'): RequestContext {
  return { requestId: 'req-1', startedAt: process.hrtime.bigint(), logger, pathname: '/x', search: '', servedBy };
}

function fakeResponse(status: number, method = 'GET', headersSent = true): ServerResponse {
  return { statusCode: status, headersSent, req: { method } } as unknown as ServerResponse;
}

t.test('request hooks move the counters, the histogram, bytes and in-flight; a second end is ignored', async (t) => {
  const metrics = createWebMetrics();
  t.teardown(() => metrics.close());
  const ctx = fakeContext();
  metrics.onRequestStart(ctx);
  metrics.onRequestStart(ctx);
  t.equal(metrics.inFlight(), 1);
  let families = parseExposition(await metrics.text());
  t.equal(sampleValue(families, 'twotier_web_requests_in_flight'), 1);
  ctx.servedBy = 'static';
  metrics.onRequestEnd(ctx, fakeResponse(200), 1234);
  metrics.onRequestEnd(ctx, fakeResponse(200), 1234);
  t.equal(metrics.inFlight(), 0);
  const text = await metrics.text();
  families = parseExposition(text);
  t.equal(sampleValue(families, 'twotier_web_requests_total', { route: 'static', method: 'GET', status: '200' }), 1);
  const series = histogramSeries(text, 'twotier_web_request_duration_seconds', { route: 'static' });
  t.equal(series?.count, 1, 'one observation');
  // Sorted by bound: an object lists integer-like keys ("1", "5") before the others.
  const counts = Object.entries(series?.buckets ?? {}).sort(([a], [b]) => bound(a) - bound(b)).map(([, count]) => count);
  t.equal(counts.length, 16, '15 buckets and +Inf');
  t.ok(counts.every((count, index) => index === 0 || count >= (counts[index - 1] ?? 0)), 'cumulative');
  t.equal(histogramSeries(text, 'twotier_web_request_duration_seconds', { route: 'app' }), undefined, 'no series for a route not seen');
  t.equal(sampleValue(families, 'twotier_web_response_bytes_total', { route: 'static' }), 1234);
  t.equal(sampleValue(families, 'twotier_web_requests_in_flight'), 0);
  t.equal(families.find((family) => family.name === 'twotier_web_request_duration_seconds')?.type, 'HISTOGRAM');
});

t.test('a response that never sent its head counts as status 0; odd methods share one label', async (t) => {
  const metrics = createWebMetrics();
  t.teardown(() => metrics.close());
  const ctx = fakeContext('app');
  metrics.onRequestStart(ctx);
  metrics.onRequestEnd(ctx, fakeResponse(200, 'BREW', false), 0);
  const families = parseExposition(await metrics.text());
  t.equal(sampleValue(families, 'twotier_web_requests_total', { route: 'app', method: 'OTHER', status: '0' }), 1);
  t.equal(methodLabel('DELETE'), 'DELETE');
  t.equal(methodLabel(undefined), 'OTHER');
});

t.test('upstream gauges and counters are read from whatever fields the proxy has', async (t) => {
  const metrics = createWebMetrics();
  t.teardown(() => metrics.close());
  let failures = 2;
  metrics.watchUpstreams({
    upstreamStates: () => [
      { url: 'http://a:3000', healthy: true, state: 'up', latencyMsEwma: 12.5, active: 3, failures, retries: 1 },
      { url: 'http://b:3000', healthy: false, lastError: 'ECONNREFUSED' },
    ],
    stats: () => ({ retries: 7, queueFull: 1, queueTimeouts: 2, retryBudgetExhausted: 3 }),
  });
  let families = parseExposition(await metrics.text());
  t.equal(sampleValue(families, 'twotier_web_upstream_up', { upstream: 'http://a:3000' }), 1);
  t.equal(sampleValue(families, 'twotier_web_upstream_up', { upstream: 'http://b:3000' }), 0);
  t.equal(sampleValue(families, 'twotier_web_upstream_latency_seconds', { upstream: 'http://a:3000' }), 0.0125);
  t.equal(sampleValue(families, 'twotier_web_upstream_latency_seconds', { upstream: 'http://b:3000' }), undefined, 'absent field, no series');
  t.equal(sampleValue(families, 'twotier_web_upstream_active_requests', { upstream: 'http://a:3000' }), 3);
  t.equal(sampleValue(families, 'twotier_web_upstream_failures_total', { upstream: 'http://a:3000' }), 2);
  t.equal(sampleValue(families, 'twotier_web_upstream_retries_total'), 7, 'stats().retries wins');
  t.equal(sampleValue(families, 'twotier_web_proxy_rejected_total', { reason: 'queue_full' }), 1);
  t.equal(sampleValue(families, 'twotier_web_proxy_rejected_total', { reason: 'queue_timeout' }), 2);
  t.equal(sampleValue(families, 'twotier_web_proxy_rejected_total', { reason: 'retry_budget' }), 3);
  failures = 5;
  families = parseExposition(await metrics.text());
  t.equal(sampleValue(families, 'twotier_web_upstream_failures_total', { upstream: 'http://a:3000' }), 5, 'follows the proxy total');

  metrics.watchUpstreams({ upstreamStates: () => [{ url: 'http://a:3000', healthy: true, retries: 2 }, { url: 'http://b:3000', healthy: true, retries: 3 }] });
  families = parseExposition(await metrics.text());
  t.equal(sampleValue(families, 'twotier_web_upstream_retries_total'), 5, 'summed per upstream without stats()');

  metrics.watchUpstreams({ upstreamStates: () => { throw new Error('broken'); } });
  families = parseExposition(await metrics.text());
  t.equal(sampleValue(families, 'twotier_web_upstream_up'), undefined, 'a throwing source leaves no upstream series and no failure');
});

t.test('CGI, static cache, event loop and memory', async (t) => {
  const metrics = createWebMetrics();
  t.teardown(() => metrics.close());
  metrics.onCgiSpawn();
  metrics.onCgiSpawn();
  metrics.onCgiExit(false);
  metrics.onCgiSpawn();
  metrics.onCgiExit(true);
  metrics.onStaticCacheLookup(true);
  metrics.onStaticCacheLookup(true);
  metrics.onStaticCacheLookup(false);
  const families = parseExposition(await metrics.text());
  t.equal(sampleValue(families, 'twotier_web_cgi_processes_started_total'), 3);
  t.equal(sampleValue(families, 'twotier_web_cgi_processes_failed_total'), 1);
  t.equal(sampleValue(families, 'twotier_web_cgi_processes_live'), 1);
  t.equal(sampleValue(families, 'twotier_web_static_cache_lookups_total', { result: 'hit' }), 2);
  t.equal(sampleValue(families, 'twotier_web_static_cache_lookups_total', { result: 'miss' }), 1);
  const lag = sampleValue(families, 'twotier_web_event_loop_delay_seconds', { stat: 'p99' });
  t.ok(lag !== undefined && lag >= 0 && lag < 5, `event-loop p99 ${lag}`);
  const rss = sampleValue(families, 'twotier_web_resident_memory_bytes') ?? 0;
  t.ok(rss > 10 * 1024 * 1024, `rss ${rss}`);
  for (const family of families) t.match(family.name, /^twotier_web_/, `${family.name} carries the prefix`);
});

t.test('a blocked event loop shows in the delay; an idle one reads near 0, not the timer resolution', async (t) => {
  const metrics = createWebMetrics();
  t.teardown(() => metrics.close());
  // The monitor measures from its first tick (10 ms resolution): a block before it is not seen.
  await new Promise<void>((resolve) => setTimeout(resolve, 30));
  const idle = metrics.eventLoopDelay();
  t.ok(idle.meanMs < 9, `idle mean ${idle.meanMs} ms`);
  const until = Date.now() + 150;
  while (Date.now() < until) {
    // Blocking on purpose, bounded to 150 ms.
  }
  // Yield once: the monitor's overdue timer runs before this one.
  await new Promise<void>((resolve) => setTimeout(resolve, 0));
  const blocked = metrics.eventLoopDelay();
  t.ok(blocked.maxMs >= 100, `max ${blocked.maxMs} ms after a 150 ms block`);
  const families = parseExposition(await metrics.text());
  t.ok((sampleValue(families, 'twotier_web_event_loop_delay_seconds', { stat: 'max' }) ?? 0) >= 0.1);
});

t.test('two instances do not share a registry', async (t) => {
  const one = createWebMetrics();
  const two = createWebMetrics();
  t.teardown(() => { one.close(); two.close(); });
  one.onRequestEnd(fakeContext(), fakeResponse(204), 0);
  const families = parseExposition(await two.text());
  t.equal(sampleValue(families, 'twotier_web_requests_total'), undefined);
});

t.test('/-/metrics over HTTP: counters move after requests through a server', async (t) => {
  const upstream = await startStubUpstream(t);
  const harness = await startHarness(t, { upstreams: [upstream.url] });
  const before = await scrape(harness.url);
  t.equal(sampleValue(before, 'twotier_web_requests_total', { route: 'app' }), undefined);
  t.equal(sampleValue(before, 'twotier_web_upstream_up', { upstream: upstream.url }), 1);
  for (const path of ['/api/ok', '/api/ok', '/api/boom', '/index.html']) {
    const response = await fetch(`${harness.url}${path}`);
    await response.arrayBuffer();
  }
  const after = await scrape(harness.url);
  t.equal(sampleValue(after, 'twotier_web_requests_total', { route: 'app', method: 'GET', status: '200' }), 2);
  t.equal(sampleValue(after, 'twotier_web_requests_total', { route: 'app', method: 'GET', status: '500' }), 1);
  t.equal(sampleValue(after, 'twotier_web_requests_total', { route: 'static', method: 'GET', status: '200' }), 1);
  t.equal(sampleValue(after, 'twotier_web_requests_total', { route: 'web', method: 'GET', status: '200' }), 1, 'the first scrape itself');
  t.ok((sampleValue(after, 'twotier_web_response_bytes_total', { route: 'app' }) ?? 0) > 0);
  const head = await fetch(`${harness.url}/-/metrics`, { method: 'HEAD' });
  t.equal(head.status, 200);
  t.match(head.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
});
