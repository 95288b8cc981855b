/**
 * WEB_ROUTES and WebSocket upgrades (issues 18 and 16): a handshake goes to the upstream group of
 * its path, as a request does: each group a `ws` echo upstream of its own, behind one web tier.
 */
import t from 'tap';
import { connect, roundTrip, startWsUpstream } from './upgrade-helpers.js';
import { startWeb } from '../../helpers/web-tier.js';

t.test('an upgrade reaches the group of its path (longest prefix), not the default one', async (t) => {
  const articles = await startWsUpstream(t);
  const hello = await startWsUpstream(t);
  const { port } = await startWeb(t, { env: { APP_UPSTREAMS: articles.url, WEB_ROUTES: `/hello/=${hello.url}`, WEB_PROXY_HEALTH_INTERVAL_MS: '0', LOG_LEVEL: 'silent' } });

  const routed = await connect(t, port, '/hello/live');
  if (routed.kind !== 'open') throw new Error(`/hello/live handshake ended ${JSON.stringify(routed)}`);
  t.equal(await roundTrip(routed.socket, 'hi'), 'hi', 'spliced to the hello group');
  t.same(hello.handshakes.map((req) => req.url), ['/hello/live'], 'the hello group\'s upstream took it, path unchanged');

  const fallback = await connect(t, port, '/api/live');
  if (fallback.kind !== 'open') throw new Error(`/api/live handshake ended ${JSON.stringify(fallback)}`);
  t.equal(await roundTrip(fallback.socket, 'yo'), 'yo');
  t.same(articles.handshakes.map((req) => req.url), ['/api/live'], 'an app path no route claims: the default group');
  t.equal(hello.handshakes.length, 1, 'nothing more reached the hello group');
});
