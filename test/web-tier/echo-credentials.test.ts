/**
 * Issue 12.6: /api/echo through the web tier (the real proxy in front of a real app-tier worker
 * running the application) shows that Authorization, Cookie and Proxy-Authorization arrived,
 * never their values: a same-origin script must not read an HttpOnly cookie through it.
 */
import t from 'tap';
import { createLogger } from '../../common/logger.js';
import { DEFAULTS } from '../../app-tier/config.js';
import { createApp } from '../../app-tier/app/create-app.js';
import { createWorkerServer } from '../../app-tier/worker.js';
import { createMemoryStore } from '../helpers/memory-store.js';
import { startWeb } from '../helpers/web-tier.js';

t.test('through the web tier, the echo redacts credentials and keeps everything else', async (t) => {
  const logger = createLogger({ tier: 'app', level: 'silent' });
  const application = createApp({ store: createMemoryStore(), logger });
  const worker = createWorkerServer({ config: { ...DEFAULTS, port: 0 }, logger, app: application });
  const address = await worker.listen();
  t.teardown(async () => {
    await worker.close();
    await application.close();
  });
  const { origin } = await startWeb(t, { env: { APP_UPSTREAMS: `http://127.0.0.1:${address.port}`, WEB_PROXY_HEALTH_INTERVAL_MS: '0' } });

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
