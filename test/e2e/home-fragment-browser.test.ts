/**
 * The home page shows the fragment staying in the browser (issue 17, URL anatomy): in real headless
 * Chromium, `/?from=home#fragment` shows `fragment` in the browser while the request inspector (the
 * app tier, through the web tier's proxy) received `/api/echo?from=home` with no fragment.
 */
import t from 'tap';
import { startAppWorker } from '../helpers/app-worker.js';
import { chromiumSkipReason, launchChromium } from '../helpers/chromium.js';
import { startWeb } from '../helpers/web-tier.js';

interface PageGlobals {
  document: { querySelector(selector: string): { hidden: boolean; textContent: string } | null };
}

t.test('the fragment never reaches the server, and the home page shows it', { skip: chromiumSkipReason() }, async (t) => {
  const { origin } = await startWeb(t, { env: { APP_UPSTREAMS: await startAppWorker(t), WEB_PROXY_HEALTH_INTERVAL_MS: '0' } });
  const context = await launchChromium(t);
  const page = await context.newPage();
  const requested: string[] = [];
  page.on('request', (request) => requested.push(request.url()));
  await page.goto(`${origin}/?from=home#fragment`, { timeout: 15_000 });
  await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.querySelector('[data-fragment-output]')?.hidden === false, undefined, { timeout: 15_000 });
  const shown = await page.evaluate(() => (globalThis as unknown as PageGlobals).document.querySelector('[data-fragment-output]')?.textContent ?? '');
  t.match(shown, /fragment \(browser\):\s+fragment/, 'the browser holds the fragment');
  t.match(shown, /the server received: \/api\/echo\?from=home\n/, 'the server got the query, not the fragment');
  t.match(shown, /fragment \(server\):\s+\(none: it never left the browser\)/);
  t.notOk(requested.some((url) => url.includes('#')), 'no request Chromium sent carried a fragment');
});
