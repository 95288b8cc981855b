/**
 * The archive index updates live (issue 16): in real headless Chromium behind the real web tier,
 * an article created through the API appears in the index's Latest list without a reload (the
 * page's EventSource on /api/articles/events, under the app's Content-Security-Policy).
 */
import t from 'tap';
import { createLogger } from '../../common/logger.js';
import { createApp } from '../../app-tier/app/create-app.js';
import { createLiveHub } from '../../app-tier/app/live/hub.js';
import { openStore } from '../../app-tier/store/index.js';
import { DEFAULTS } from '../../app-tier/config.js';
import { createWorkerServer } from '../../app-tier/worker.js';
import { chromiumSkipReason, launchChromium } from '../helpers/chromium.js';
import { startWeb } from '../helpers/web-tier.js';

interface PageGlobals {
  document: { querySelector(selector: string): { textContent: string } | null };
}

t.test('a new article appears on the index without a reload', { skip: chromiumSkipReason() }, async (t) => {
  // A worker with the live feed (the seeded store gives the index its Latest list).
  const logger = createLogger({ tier: 'app', level: 'silent' });
  const live = createLiveHub({ bufferEvents: 100 });
  const app = createApp({ store: await openStore('sqlite::memory:', { logger }), logger, live });
  const worker = createWorkerServer({ config: { ...DEFAULTS, host: '127.0.0.1', port: 0, drainGraceMs: 0 }, logger, app, onDraining: () => live.end() });
  const address = await worker.listen();
  t.teardown(async () => {
    await worker.close();
    await app.close();
  });
  const { origin } = await startWeb(t, { env: { APP_UPSTREAMS: `http://127.0.0.1:${address.port}`, WEB_PROXY_HEALTH_INTERVAL_MS: '0' } });
  const context = await launchChromium(t);
  const page = await context.newPage();
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content.Security.Policy|Refused/i.test(message.text())) violations.push(message.text());
  });
  let loads = 0;
  page.on('load', () => {
    loads += 1;
  });
  // The stream is open once the page's EventSource got its first bytes.
  const streamOpen = page.waitForResponse((response) => response.url().endsWith('/api/articles/events'), { timeout: 15_000 });
  await page.goto(`${origin}/articles/`, { timeout: 15_000 });
  await streamOpen;
  const created = await fetch(`${origin}/api/articles/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'Seen without a reload', body: 'x' }) });
  t.equal(created.status, 201);
  await page.waitForFunction(() => ((globalThis as unknown as PageGlobals).document.querySelector('[data-live-articles]')?.textContent ?? '').includes('Seen without a reload'), undefined, { timeout: 15_000 });
  t.pass('the new article is in the Latest list');
  t.equal(loads, 1, 'the page was not reloaded');
  t.same(violations, [], 'no Content-Security-Policy violation');
});
