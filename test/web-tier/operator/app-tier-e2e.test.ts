/**
 * The status page's worker table from the real, built, clustered app tier: its /-/workers
 * answer reaches status.json through the real proxy's upstream list, and the app tier's
 * pids are the ones shown. Needs `npx tsc -p tsconfig.build.json` (npm test builds first).
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { createLogger } from '../../../common/logger.js';
import type { StatusSnapshot } from '../../../web-tier/operator/status-data.js';
import { createProxyHandler } from '../../../web-tier/proxy/handler.js';
import { proxyConfig } from '../proxy/helpers.js';
import { APP_MAIN, startAppTier } from '../../helpers/app-tier.js';
import { startHarness } from './harness.js';

t.test('status.json lists the clustered app tier\'s workers', { skip: existsSync(APP_MAIN) ? false : `${APP_MAIN} is not built` }, async (t) => {
  const app = await startAppTier(t, { workers: 2 });
  const proxy = createProxyHandler({ ...proxyConfig({ activeHealth: { intervalMs: 0 }, upstreams: [app.url] }), logger: createLogger({ tier: 'web', level: 'silent' }) });
  t.teardown(() => proxy.close());
  const harness = await startHarness(t, { proxy, operator: { workers: { timeoutMs: 5_000, cacheMs: 0 } } });

  for (let i = 0; i < 4; i += 1) {
    const response = await fetch(`${harness.url}/api/articles/`);
    t.equal(response.status, 200, 'proxied to the app tier');
    await response.arrayBuffer();
  }
  const status = (await (await fetch(`${harness.url}/-/status.json`)).json()) as StatusSnapshot;
  const upstream = status.upstreams[0];
  t.equal(upstream?.url, app.url);
  t.equal(upstream?.healthy, true);
  const report = upstream?.workers;
  if (report === undefined || !report.ok) throw new Error(`no workers report: ${JSON.stringify(report)}`);
  t.equal(report.scope, 'cluster');
  t.equal(report.primaryPid, app.child.pid);
  t.same(report.workers.map((worker) => worker.pid).sort(), [...app.workerPids].sort(), 'the pids the primary forked');
  const answered = report.workers.reduce((sum, worker) => sum + (worker.requests ?? 0), 0);
  t.ok(answered >= 4, `the workers counted the proxied requests (${answered})`);
  t.ok(report.workers.every((worker) => worker.ready === true && (worker.rssBytes ?? 0) > 0));
});
