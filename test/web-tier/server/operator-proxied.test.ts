/**
 * Attacker's review of issue 12 item 5: a reverse proxy on the same box in front of the web tier
 * (TLS termination by nginx on :443, the deployment WEB_TRUSTED_PROXIES exists for) connects
 * from loopback, so the peer check passes every request it forwards; and with nginx's default
 * `proxy_set_header Host $proxy_host` the Host is "127.0.0.1:8080", an IP literal, so the Host
 * rule passes too. Any remote client then read /-/status.json and /-/metrics and could POST
 * /-/reload. A request that carries X-Forwarded-For or Forwarded was forwarded on someone
 * else's behalf: the operator endpoints refuse it (403), as the app tier's already do
 * (app-tier/operator-access.ts), whether or not the proxy is in WEB_TRUSTED_PROXIES.
 */
import t from 'tap';
import { rawExchange } from '../../helpers/raw-http.js';
import { fakeHandlers, startWeb } from '../../helpers/web-tier.js';

for (const trustedProxies of ['', '127.0.0.1']) {
  t.test(`operator endpoints refuse a forwarded request (WEB_TRUSTED_PROXIES=${JSON.stringify(trustedProxies)})`, async (t) => {
    let reloads = 0;
    const { port } = await startWeb(t, {
      handlers: fakeHandlers(),
      env: trustedProxies === '' ? {} : { WEB_TRUSTED_PROXIES: trustedProxies },
      onReloadRequest: async () => {
        reloads += 1;
        return { ok: true, applied: [], needRestart: [] };
      },
    });
    const viaProxy = ['X-Forwarded-For: 203.0.113.9\r\n', 'Forwarded: for=203.0.113.9;proto=https\r\n', 'x-forwarded-for: 203.0.113.9\r\nX-Forwarded-Proto: https\r\n'];
    for (const fields of viaProxy) {
      for (const target of ['/-/status.json', '/-/metrics', '/-/status', '/%2D/status.json']) {
        const answer = await rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${fields}\r\n`, { responses: 1, timeoutMs: 5_000 });
        t.equal(answer.responses[0]?.status, 403, `${target} with ${fields.trim()}`);
        t.notMatch(answer.responses[0]?.body ?? '', /twotier_web|"upstreams"|"limits"/, 'nothing of the operator data leaks');
      }
      const reload = await rawExchange(port, `POST /-/reload HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Twotier-Reload: 1\r\n${fields}Content-Length: 0\r\n\r\n`, { responses: 1, timeoutMs: 5_000 });
      t.equal(reload.responses[0]?.status, 403, `POST /-/reload with ${fields.trim()}`);
    }
    t.equal(reloads, 0, 'no forwarded request reloaded the config');
    // The control: the operator on the box, no proxy in between.
    const direct = await rawExchange(port, `GET /-/status.json HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`, { responses: 1, timeoutMs: 5_000 });
    t.equal(direct.responses[0]?.status, 200, 'a direct request from loopback is answered');
    // Health probes stay open to a proxy: a load balancer checks through it.
    const health = await rawExchange(port, `GET /healthz HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n`, { responses: 1, timeoutMs: 5_000 });
    t.equal(health.responses[0]?.status, 200, '/healthz through a proxy');
  });
}
