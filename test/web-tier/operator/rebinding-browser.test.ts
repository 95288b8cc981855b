/**
 * DNS rebinding, played in real headless Chromium (issue 12 item 5). The browser resolves
 * attacker.example to 127.0.0.1 (--host-resolver-rules: the answer the attacker's DNS gives
 * once the page has loaded), so a page of origin http://attacker.example:PORT is same-origin
 * with the web tier's operator endpoints: no CORS, no preflight, even for the custom header
 * POST /-/reload asks for. Only the Host it sends gives it away. The same page loaded as
 * http://localhost:PORT is the control: the browser path works, the refusal is the Host's.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromiumSkipReason, launchChromium } from '../../helpers/chromium.js';
import { createFakeHandler, startWeb } from '../../helpers/web-tier.js';


/** What a hostile page does once its name points at 127.0.0.1: read the status, scrape, reload. */
const ATTACK_JS = `
const results = {};
const ask = async (name, path, init) => {
  try {
    const response = await fetch(path, init);
    results[name] = response.status;
  } catch (error) {
    results[name] = 'failed: ' + error.message;
  }
};
(async () => {
  await ask('status', '/-/status.json');
  await ask('metrics', '/-/metrics');
  await ask('reload', '/-/reload', { method: 'POST', headers: { 'X-Twotier-Reload': '1' } });
  document.body.dataset.results = JSON.stringify(results);
})();
`;

interface PageGlobals {
  document: { body: { dataset: Record<string, string | undefined> } };
}

t.test('a page on a rebound name cannot read or reload through a browser on the box; the same page on localhost can', { skip: chromiumSkipReason() }, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'twotier-rebinding-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(join(root, 'attack.html'), '<!doctype html><meta charset="utf-8"><title>cats</title><script src="/attack.js"></script>\n');
  writeFileSync(join(root, 'attack.js'), ATTACK_JS);
  let reloads = 0;
  const { port } = await startWeb(t, {
    env: { WEB_ROOT: root },
    handlers: { app: createFakeHandler('app', { healthy: () => true }) },
    onReloadRequest: async () => {
      reloads += 1;
      return { ok: true, applied: [], needRestart: [] };
    },
  });
  const context = await launchChromium(t, { args: ['--host-resolver-rules=MAP attacker.example 127.0.0.1'] });

  const resultsAt = async (origin: string): Promise<Record<string, unknown>> => {
    const page = await context.newPage();
    await page.goto(`${origin}/attack.html`, { timeout: 30_000 });
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.body.dataset['results'] !== undefined, undefined, { timeout: 30_000 });
    const text = await page.evaluate(() => (globalThis as unknown as PageGlobals).document.body.dataset['results'] ?? '{}');
    await page.close();
    return JSON.parse(text) as Record<string, unknown>;
  };

  const rebound = await resultsAt(`http://attacker.example:${port}`);
  t.same(rebound, { status: 421, metrics: 421, reload: 421 }, 'every operator request from the rebound page is refused');
  t.equal(reloads, 0, 'and nothing was reloaded');

  const local = await resultsAt(`http://localhost:${port}`);
  t.same(local, { status: 200, metrics: 200, reload: 200 }, 'the same page on localhost (the operator\'s own) is answered');
  t.equal(reloads, 1);
});
