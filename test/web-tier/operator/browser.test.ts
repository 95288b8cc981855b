/**
 * The status page in real headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core): it loads without console errors, shows the upstreams, and its numbers
 * move when requests are sent. A screenshot is saved in the test's temp dir.
 */
import t, { type Test } from 'tap';
import { copyFileSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { chromiumSkipReason, launchChromium } from '../../helpers/chromium.js';
import { refusedUrl, startHarness, startStubUpstream, type Harness } from './harness.js';

t.test('the status page in Chromium', { skip: chromiumSkipReason() }, (t) => runBrowserTests(t));

interface Teardown {
  teardown(fn: () => unknown): void;
}

function tempDir(t: Teardown, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * What the page-side predicates touch, typed here because the test is compiled without the DOM
 * library. They are functions, not strings: the page's CSP (rightly) forbids eval of strings.
 */
interface PageGlobals {
  document: { getElementById(id: string): { dataset: Record<string, string>; textContent: string } | null };
}

function waitForMode(page: Page, mode: string): Promise<unknown> {
  return page.waitForFunction((wanted) => (globalThis as unknown as PageGlobals).document.getElementById('live')?.dataset['mode'] === wanted, mode, { timeout: 10_000 });
}

function waitForRequests(page: Page, atLeast: number): Promise<unknown> {
  return page.waitForFunction((n) => Number((globalThis as unknown as PageGlobals).document.getElementById('requests')?.textContent) >= n, atLeast, { timeout: 10_000 });
}

/** Console errors, uncaught page errors and failed requests: any of them fails the test. */
function watchForErrors(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('requestfailed', (request) => {
    // The event stream is cut when the test closes the page or the server.
    if (!request.url().endsWith('/-/status/events')) problems.push(`requestfailed: ${request.url()}`);
  });
  return problems;
}

async function send(harness: Harness, paths: readonly string[]): Promise<void> {
  for (const path of paths) await (await fetch(`${harness.url}${path}`)).arrayBuffer();
}

const BENCH = {
  startedAt: '2026-11-25T10:00:00.000Z',
  commit: '9a02fab3c1d2e4f5',
  machine: { node: 'v20.20.2', cpuModel: 'Test CPU' },
  scenarios: [
    { name: 'static', status: 'ok', rps: 14210, latencyMs: { p99: 2.1 }, peakRssMiB: 74 },
    { name: 'proxy w2', status: 'ok', rps: 5120, latencyMs: { p99: 6.4 }, peakRssMiB: 231 },
    { name: 'embedded', status: 'ok', rps: 6830, latencyMs: { p99: 4.9 }, peakRssMiB: 118 },
    { name: 'cgi', status: 'ok', rps: 61, latencyMs: { p99: 190 }, peakRssMiB: 412 },
  ],
};

async function runBrowserTests(t: Test): Promise<void> {
  const one = await startStubUpstream(t, [41201, 41202]);
  const two = await startStubUpstream(t, [52310, 52311]);
  const down = await refusedUrl();
  const benchDir = tempDir(t, 'twotier-bench-');
  writeFileSync(join(benchDir, 'latest.json'), JSON.stringify(BENCH));
  const harness = await startHarness(t, {
    upstreams: [one.url, two.url, down],
    operator: { eventsIntervalMs: 250, benchResultsDir: benchDir, placement: { name: 'single-box', dynamic: 'proxy' } },
  });
  const context = await launchChromium(t, { viewport: { width: 1200, height: 900 } });

  t.test('loads without console errors, shows upstreams, and a value changes after requests (SSE)', async (t) => {
    const page = await context.newPage();
    t.teardown(() => page.close());
    const problems = watchForErrors(page);
    const response = await page.goto(`${harness.url}/-/status`);
    t.equal(response?.status(), 200);
    await page.waitForSelector('#upstreams tbody tr[data-url]', { timeout: 10_000 });
    await waitForMode(page, 'sse');
    const rows = page.locator('#upstreams tbody tr[data-url]');
    const urls = await Promise.all((await rows.all()).map((row) => row.getAttribute('data-url')));
    t.same(urls, [one.url, two.url, down]);
    t.equal(await page.textContent('#placement'), 'single-box');
    const before = Number(await page.textContent('#requests'));

    // Traffic, one 5xx from the app, and a refused upstream (502, marked down).
    await send(harness, ['/api/articles/', '/api/articles/', '/api/boom', '/api/articles/', '/site.css', '/api/articles/', '/api/articles/', '/index.html']);
    await waitForRequests(page, before + 8);
    t.ok(Number(await page.textContent('#requests')) >= before + 8, 'the request count moved');
    await page.waitForSelector('#errors tbody tr:not(.empty)', { timeout: 10_000 });
    const errorIds = await page.locator('#errors tbody code').allTextContents();
    t.ok(errorIds.length >= 1 && errorIds.every((id) => harness.requestIds.includes(id)), 'recent errors show request ids the server issued');
    await page.waitForSelector(`#upstreams tbody tr[data-url="${down}"][data-healthy="false"]`, { timeout: 10_000 });
    t.pass('the refused upstream shows as down');
    const workerPids = await page.locator('#workers tbody tr td:nth-child(2)').allTextContents();
    t.same(workerPids, ['41201', '41202', '52310', '52311']);
    t.equal(await page.locator('#bench tbody tr').count(), 4, 'the bench rows');
    t.not(await page.textContent('#error-rate'), '0.0 %');

    const shot = join(tempDir(t, 'twotier-screenshot-'), 'status-page.png');
    await page.screenshot({ path: shot, fullPage: true });
    t.ok(statSync(shot).size > 10_000, `screenshot saved (${shot})`);
    // Regenerates the README's picture: TWOTIER_SCREENSHOT=docs/status-page.png npx tap test/web-tier/operator/browser.test.ts
    const keep = process.env['TWOTIER_SCREENSHOT'];
    if (keep !== undefined && keep !== '') copyFileSync(shot, keep);
    t.same(problems, [], 'no console errors, page errors or failed requests');
  });

  t.test('without EventSource the page falls back to polling status.json', async (t) => {
    const page = await context.newPage();
    t.teardown(() => page.close());
    const problems = watchForErrors(page);
    await page.addInitScript({ content: 'delete window.EventSource;' });
    await page.goto(`${harness.url}/-/status`);
    await waitForMode(page, 'polling');
    const before = Number(await page.textContent('#requests'));
    await send(harness, ['/api/articles/', '/api/articles/', '/api/articles/']);
    await waitForRequests(page, before + 3);
    t.pass('the count moved through polling');
    t.same(problems, []);
  });
}
