/**
 * Issue 12.6, through the real web tier in front of a real app-tier worker: X-Real-IP is the
 * edge's, never the client's; a trusted proxy's https survives to the app, which then marks the
 * CSRF cookie Secure; an untrusted client cannot claim https (or an address).
 */
import t, { type Test } from 'tap';
import { startWeb } from '../../helpers/web-tier.js';
import { startAppWorker } from '../../helpers/app-worker.js';

/** What a TLS-terminating load balancer in front of the web tier sends. */
const FROM_A_PROXY = { 'X-Forwarded-Proto': 'https', 'X-Real-IP': '203.0.113.7', 'X-Forwarded-For': '203.0.113.7', Forwarded: 'for=203.0.113.7;proto=https' };

async function echoHeaders(t: Test, origin: string): Promise<Record<string, string>> {
  const response = await fetch(`${origin}/api/echo`, { headers: FROM_A_PROXY });
  t.equal(response.status, 200);
  return ((await response.json()) as { headers: Record<string, string> }).headers;
}

for (const engine of ['plain', 'http-proxy']) {
  t.test(`${engine}: from a peer in WEB_TRUSTED_PROXIES, its https and client address reach the app; the CSRF cookie is Secure`, async (t) => {
    const upstream = await startAppWorker(t);
    const { origin } = await startWeb(t, { env: { APP_UPSTREAMS: upstream, WEB_PROXY_ENGINE: engine, WEB_PROXY_HEALTH_INTERVAL_MS: '0', WEB_TRUSTED_PROXIES: '127.0.0.1' } });
    const headers = await echoHeaders(t, origin);
    t.equal(headers['x-forwarded-proto'], 'https', 'kept, not overwritten with the http of the hop');
    t.match(headers['forwarded'], /^for=203\.0\.113\.7;proto=https, for=127\.0\.0\.1;host="[^"]+";proto=https$/);
    t.equal(headers['x-real-ip'], '203.0.113.7');
    t.equal(headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1');

    const form = await fetch(`${origin}/articles/new/`, { headers: FROM_A_PROXY });
    t.equal(form.status, 200);
    t.match(form.headers.get('set-cookie'), /^csrftoken=[^;]+;.*; Secure$/);
  });

  t.test(`${engine}: from anyone else, the edge's own values: http, the peer address, no Secure`, async (t) => {
    const upstream = await startAppWorker(t);
    const { origin } = await startWeb(t, { env: { APP_UPSTREAMS: upstream, WEB_PROXY_ENGINE: engine, WEB_PROXY_HEALTH_INTERVAL_MS: '0' } });
    const headers = await echoHeaders(t, origin);
    t.equal(headers['x-forwarded-proto'], 'http');
    t.match(headers['forwarded'], /^for=127\.0\.0\.1;host="[^"]+";proto=http$/);
    t.equal(headers['x-real-ip'], '127.0.0.1', 'a client-sent X-Real-IP is replaced by the real peer');
    t.equal(headers['x-forwarded-for'], '127.0.0.1');

    const form = await fetch(`${origin}/articles/new/`, { headers: FROM_A_PROXY });
    t.equal(form.status, 200);
    const cookie = form.headers.get('set-cookie') ?? '';
    t.match(cookie, /^csrftoken=/);
    t.notMatch(cookie, /Secure/, 'a client cannot claim https');
  });
}
