/**
 * Issue 12.6: /api/echo through the web tier (the real proxy in front of a real app-tier worker
 * running the application) shows that Authorization, Cookie and Proxy-Authorization arrived,
 * never their values: a same-origin script must not read an HttpOnly cookie through it.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWeb } from '../helpers/web-tier.js';
import { startAppWorker } from '../helpers/app-worker.js';
import { chromiumSkipReason, launchChromium } from '../helpers/chromium.js';

t.test('through the web tier, the echo redacts credentials and keeps everything else', async (t) => {
  const { origin } = await startWeb(t, { env: { APP_UPSTREAMS: await startAppWorker(t), WEB_PROXY_HEALTH_INTERVAL_MS: '0' } });

  const cookie = 'sid=HTTPONLY-SECRET-1; theme=dark';
  const authorization = 'Bearer tok-SECRET-2';
  const proxyAuthorization = 'Basic U0VDUkVULTM=';
  const response = await fetch(`${origin}/api/echo?x=1`, {
    method: 'POST',
    headers: { Cookie: cookie, Authorization: authorization, 'Proxy-Authorization': proxyAuthorization, 'X-Custom': 'kept', 'Content-Type': 'text/plain' },
    body: 'hello',
  });
  t.equal(response.status, 200);
  t.equal(response.headers.get('x-served-by'), 'app');
  const text = await response.text();
  t.notMatch(text, /SECRET|U0VDUkVULTM/, 'no credential value crosses back to the client');
  const echo = JSON.parse(text) as { headers: Record<string, string>; body: string; url: string };
  t.equal(echo.headers['cookie'], `[redacted, ${cookie.length} bytes]`);
  t.equal(echo.headers['authorization'], `[redacted, ${authorization.length} bytes]`);
  // Proxy-Authorization is hop-by-hop in spirit (RFC 9110 §11.7.2): absent when the web tier drops it, redacted when it arrives.
  if (echo.headers['proxy-authorization'] !== undefined) t.equal(echo.headers['proxy-authorization'], `[redacted, ${proxyAuthorization.length} bytes]`);
  t.equal(echo.headers['x-custom'], 'kept');
  t.ok(echo.headers['x-forwarded-for'] !== undefined, 'the forwarding headers the web tier adds are still shown');
  t.equal(echo.body, 'hello');
  t.equal(echo.url, '/api/echo?x=1');
});

interface PageGlobals {
  document: { cookie: string; body: { dataset: Record<string, string | undefined> } };
}

t.test('in Chromium, a same-origin script cannot read an HttpOnly cookie through the echo', { skip: chromiumSkipReason() }, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'twotier-echo-page-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(join(root, 'page.html'), '<!doctype html><meta charset="utf-8"><title>x</title><script src="/page.js"></script>\n');
  // What an injected script would try: document.cookie hides the HttpOnly cookie, so ask the echo.
  writeFileSync(join(root, 'page.js'), `fetch('/api/echo').then((r) => r.json()).then((echo) => {
  document.body.dataset.seen = JSON.stringify({ documentCookie: document.cookie, echoed: echo.headers.cookie });
});\n`);
  const { origin } = await startWeb(t, { env: { WEB_ROOT: root, APP_UPSTREAMS: await startAppWorker(t), WEB_PROXY_HEALTH_INTERVAL_MS: '0' } });
  const context = await launchChromium(t);
  await context.addCookies([{ name: 'sid', value: 'HTTPONLY-SECRET-9', url: origin, httpOnly: true }]);
  const page = await context.newPage();
  await page.goto(`${origin}/page.html`, { timeout: 30_000 });
  await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.body.dataset['seen'] !== undefined, undefined, { timeout: 30_000 });
  const seen = JSON.parse(await page.evaluate(() => (globalThis as unknown as PageGlobals).document.body.dataset['seen'] ?? '{}')) as { documentCookie: string; echoed: string };
  t.equal(seen.documentCookie, '', 'document.cookie does not show the HttpOnly cookie');
  t.equal(seen.echoed, `[redacted, ${'sid=HTTPONLY-SECRET-9'.length} bytes]`, 'the echo shows that a cookie arrived, not its value');
});
