/**
 * The app tier's exposition text for a fixed state, byte for byte (a worker alone, and the
 * primary's own series): the metric table (common/metric-table.ts) must expose what the
 * hand-written prom-client objects did. Only the uptime and the event-loop lag, which depend on
 * the machine, are masked.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createWorkerMetrics } from '../../app-tier/metrics.js';
import { createLocalSource, createPrimaryMetrics } from '../../app-tier/metrics-cluster.js';

function mask(text: string): string {
  return text
    .replace(/^(app_event_loop_lag_seconds\{pid="\d+"\}) .+$/gm, '$1 <lag>')
    .replace(/^(app_worker_uptime_seconds\{pid="\d+"\}) .+$/gm, '$1 <uptime>');
}

async function fixedStateText(): Promise<string> {
  let ready = false;
  const metrics = createWorkerMetrics({ pid: 4242, isReady: () => ready, rss: () => 12_345_678 });
  try {
    metrics.requestStarted();
    metrics.requestStarted();
    metrics.requestFinished({ route: 'article-list', method: 'GET', status: 200, seconds: 0.003, requestBytes: 0, responseBytes: 512 });
    metrics.requestFinished({ route: 'not-found', method: 'BREW', status: 404, seconds: 0.2, requestBytes: 7, responseBytes: 90 });
    metrics.storeError('createArticle', 'STORE_CONFLICT');
    const first = await createLocalSource(metrics).metrics();
    ready = true;
    const second = await createLocalSource(metrics).metrics();
    let alive = 3;
    const primary = createPrimaryMetrics({ workersAlive: () => alive });
    const before = await primary.registry.metrics();
    primary.workerRestarted('crash');
    alive = 2;
    const after = await primary.registry.metrics();
    return mask([first, second, before, after].join('\n----\n'));
  } finally {
    metrics.close();
  }
}

/** Written by the hand-declared metrics before the table replaced them (commit of this test). */
const EXPECTED = readFileSync(fileURLToPath(new URL('../fixtures/metrics/app-exposition.txt', import.meta.url)), 'utf8');

t.test('the exposition text for a fixed state is unchanged', async (t) => {
  t.equal(await fixedStateText(), EXPECTED);
});
