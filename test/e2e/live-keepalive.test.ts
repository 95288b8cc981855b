/**
 * A quiet /api/live through the web tier stays open (issue 16): the web tier closes an upgraded
 * connection after WEB_WS_IDLE_TIMEOUT_MS without a byte either way (as nginx's
 * proxy_read_timeout does), and a live feed may go minutes without an article event. The app
 * tier's WebSocket adapter pings every APP_WS_PING_INTERVAL_MS (RFC 6455 §5.5.2), which keeps
 * every hop's idle timer from cutting a healthy connection, as the SSE stream's comment pings do.
 */
import t from 'tap';
import { startAppTier } from '../helpers/app-tier.js';
import { connectLiveSocket, within } from '../helpers/live-clients.js';
import { spawnEntry, WEB_MAIN } from '../helpers/web-tier.js';

const IDLE_MS = 1_500;
const PINGS = 5;

t.test('a quiet /api/live through the web tier outlives WEB_WS_IDLE_TIMEOUT_MS: the app pings it', async (t) => {
  const app = await startAppTier(t, { workers: 1, env: { APP_WS_PING_INTERVAL_MS: '300' } });
  const web = spawnEntry(t, WEB_MAIN, { WEB_HOST: '127.0.0.1', WEB_PORT: '0', APP_UPSTREAMS: app.url, WEB_WS_IDLE_TIMEOUT_MS: String(IDLE_MS) });
  const listening = await web.waitForLine((line) => line['msg'] === 'listening');
  const socket = await connectLiveSocket(`http://127.0.0.1:${listening['port'] as number}`);
  t.teardown(() => socket.ws.terminate());
  const startedAt = Date.now();
  let pings = 0;
  await within(new Promise<void>((resolve, reject) => {
    socket.ws.on('ping', () => {
      pings += 1;
      // Past two idle timeouts: the web tier would have cut it twice over.
      if (pings >= PINGS && Date.now() - startedAt > 2 * IDLE_MS) resolve();
    });
    void socket.closeCode.then((code) => reject(new Error(`closed with ${code} after ${Date.now() - startedAt} ms and ${pings} pings (WEB_WS_IDLE_TIMEOUT_MS ${IDLE_MS})`)));
  }), `${PINGS} pings`, 10_000);
  t.ok(Date.now() - startedAt > 2 * IDLE_MS, `open ${Date.now() - startedAt} ms without an event (idle timeout ${IDLE_MS} ms), ${pings} pings`);
  t.equal(socket.ws.readyState, socket.ws.OPEN, 'still open');
  t.notOk(web.lines.some((line) => line['msg'] === 'upgraded connection idle: closed (WEB_WS_IDLE_TIMEOUT_MS)'), 'the web tier never closed it as idle');
});
