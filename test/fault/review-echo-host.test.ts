/**
 * Attacker review of the request inspector's urlParts (issue 17): it takes apart
 * scheme://Host/target, and the Host is client bytes. The web tier refuses a Host with a port
 * that is not 0-65535 (limits.ts isValidHost), but the app tier is reached directly too (its own
 * port in persistent mode): there a Host such as "x:abc" must not make the inspector a 500 (an
 * error-level log line and a 5xx per request, on demand).
 */
import t from 'tap';
import { harness } from '../app-tier/app/fixture.js';

t.test('a Host whose port urlparse refuses does not make /api/echo a 500', async (t) => {
  const h = harness(t);
  for (const host of ['x:abc', 'x:99999', 'x:-1']) {
    const reply = await h.send('/api/echo/', { headers: { host } });
    t.equal(reply.status, 200, `Host ${host}: the inspector answers`);
    t.match(reply.json().urlParts, { url: `http://${host}/api/echo/`, error: /port/ }, `Host ${host}: urlParts says why it could not take the URL apart`);
  }
  t.match((await h.send('/api/echo/', { headers: { host: 'site.test:8080' } })).json().urlParts, { hostname: 'site.test', port: 8080 });
});
