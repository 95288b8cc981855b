/**
 * Headless Chromium over https with the local CA trusted the way README says (issue 15):
 * `certutil -A` into an NSS database under the browser's $HOME (libnss3-tools), no flag that
 * ignores certificate errors. WEB_TLS=internal in front of a real app tier: the home page and an
 * article load, the connection is TLS 1.3 under the local CA, the app's CSRF cookie is Secure
 * (the proxy said X-Forwarded-Proto: https), and the plain port redirects the browser to https.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { send, startAppTier } from '../helpers/app-tier.js';
import { chromiumSkipReason, launchChromium } from '../helpers/chromium.js';
import { startWeb } from '../helpers/web-tier.js';

const CERTUTIL = '/usr/bin/certutil';
const missing = chromiumSkipReason() || (!existsSync(CERTUTIL) ? `${CERTUTIL} is not installed (apt-get install libnss3-tools)` : false);
const TOKEN = 'https-browser-token';

t.test('Chromium trusts the local CA through NSS and loads the home page and an article over https', { skip: missing, timeout: 180_000 }, async (t) => {
  const scratch = mkdtempSync(join(tmpdir(), 'twotier-https-browser-'));
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
  const app = await startAppTier(t, { env: { APP_TOKEN: TOKEN }, readyTimeoutMs: 60_000 });
  const created = await send(`${app.url}/api/articles/`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ title: 'Over TLS', body: 'An article read through https.' }) });
  t.equal(created.status, 201);
  // /articles/latest/ answers 307 to the newest article's page (issue 17): the browser follows it over https.
  const articlePath = '/articles/latest/';

  const tlsDir = join(scratch, 'tls');
  const { web, port } = await startWeb(t, { env: { WEB_TLS: 'internal', WEB_TLS_PORT: '0', WEB_TLS_DIR: tlsDir, APP_UPSTREAMS: app.url, WEB_HSTS_MAX_AGE: '300' } });
  const tlsPort = web.tlsAddress()?.port ?? 0;

  // The README's trust command, into this browser's own $HOME (Chromium on Linux reads sql:$HOME/.pki/nssdb).
  const home = join(scratch, 'home');
  const nssdb = join(home, '.pki', 'nssdb');
  mkdirSync(nssdb, { recursive: true });
  execFileSync(CERTUTIL, ['-d', `sql:${nssdb}`, '-N', '--empty-password']);
  execFileSync(CERTUTIL, ['-d', `sql:${nssdb}`, '-A', '-t', 'C,,', '-n', 'twotier-local-ca', '-i', join(tlsDir, 'ca.pem')]);

  const context = await launchChromium(t, { timeoutMs: 60_000, env: { ...process.env, HOME: home } });
  const page = await context.newPage();

  const home1 = await page.goto(`https://localhost:${tlsPort}/`, { timeout: 60_000 });
  t.equal(home1?.status(), 200, 'the home page over https');
  const security = await home1?.securityDetails();
  t.equal(security?.protocol, 'TLS 1.3');
  t.match(security?.issuer ?? '', /twotier local CA/, 'issued by the local CA');
  t.equal((await home1?.allHeaders())?.['strict-transport-security'], 'max-age=300');

  const article = await page.goto(`https://localhost:${tlsPort}${articlePath}`, { timeout: 60_000 });
  t.equal(article?.status(), 200, 'the article over https');
  t.match(page.url(), new RegExp(`^https://localhost:${tlsPort}/articles/\\d{4}/\\d+/`), 'followed to the article page, still https');
  t.match(await page.content(), /Over TLS/);

  await page.goto(`https://localhost:${tlsPort}/articles/new/`, { timeout: 60_000 });
  const cookies = await context.cookies(`https://localhost:${tlsPort}/`);
  t.ok(cookies.length > 0 && cookies.every((cookie) => cookie.secure), 'the app marks its cookies Secure over TLS');

  // The plain port sends the browser to https (and HSTS would keep it there).
  const fresh = await context.newPage();
  const redirected = await fresh.goto(`http://localhost:${port}/`, { timeout: 60_000 });
  t.equal(fresh.url(), `https://localhost:${tlsPort}/`, 'the plain listener redirected to https');
  t.equal(redirected?.status(), 200);
  t.ok(readFileSync(join(tlsDir, 'ca.pem'), 'utf8').includes('BEGIN CERTIFICATE'));
});
