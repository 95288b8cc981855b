/**
 * The operator view over the real proxy handler (web-tier/proxy): health, failures, retries and
 * latency are read from its upstreamStates() and stats() without any hook.
 */
import t from 'tap';
import { createLogger } from '../../../common/logger.js';
import type { StatusSnapshot } from '../../../web-tier/operator/status-data.js';
import { createProxyHandler } from '../../../web-tier/proxy/handler.js';
import { proxyConfig } from '../proxy/helpers.js';
import { refusedUrl, sampleValue, scrape, startHarness, startStubUpstream } from './harness.js';

t.test('a refused upstream: failures and retries counted, the live one up with a latency', async (t) => {
  const live = await startStubUpstream(t, [777]);
  const refused = await refusedUrl();
  const proxy = createProxyHandler({
    ...proxyConfig({ activeHealth: { intervalMs: 0 }, upstreams: [live.url, refused] }),
    logger: createLogger({ tier: 'web', level: 'silent' }),
  });
  t.teardown(() => proxy.close());
  const harness = await startHarness(t, { proxy });

  const statuses: number[] = [];
  for (let i = 0; i < 6; i += 1) {
    const response = await fetch(`${harness.url}/api/articles/`);
    statuses.push(response.status);
    await response.arrayBuffer();
  }
  t.same(statuses, [200, 200, 200, 200, 200, 200], 'GETs to the refused upstream were retried on the live one');

  const families = await scrape(harness.url);
  t.equal(sampleValue(families, 'twotier_web_requests_total', { route: 'app', method: 'GET', status: '200' }), 6);
  t.equal(sampleValue(families, 'twotier_web_upstream_up', { upstream: live.url }), 1);
  t.ok((sampleValue(families, 'twotier_web_upstream_failures_total', { upstream: refused }) ?? 0) >= 1, 'failures of the refused upstream');
  t.equal(sampleValue(families, 'twotier_web_upstream_failures_total', { upstream: live.url }), 0);
  t.ok((sampleValue(families, 'twotier_web_upstream_retries_total') ?? 0) >= 1, 'retries');
  t.ok((sampleValue(families, 'twotier_web_upstream_latency_seconds', { upstream: live.url }) ?? 0) > 0, 'latency of the live upstream');
  t.equal(sampleValue(families, 'twotier_web_proxy_rejected_total', { reason: 'queue_full' }), 0);

  const status = (await (await fetch(`${harness.url}/-/status.json`)).json()) as StatusSnapshot;
  const [first, second] = status.upstreams;
  t.match(first, { url: live.url, healthy: true, state: 'up', failures: 0, workers: { ok: true, workers: [{ pid: 777 }] } });
  t.type(first?.latencyMsEwma, 'number');
  t.match(second, { url: refused, lastError: 'ECONNREFUSED' });
  t.ok((second?.failures ?? 0) >= 1);
  t.equal(second?.workers.ok, false);
});
