/**
 * Issue 12 item 4, the incident: one host opened 20 000 idle connections and exhausted the web
 * tier's file descriptors until the headers timeout reaped them. Against the built web tier with
 * its shipped defaults (WEB_PEER_MAX_CONNECTIONS 256), one host (127.0.0.2) opens FLOOD idle
 * connections: it keeps 256, the rest are closed at accept, the server's descriptors stay
 * bounded, and another host (127.0.0.1) is served throughout.
 */
import t from 'tap';
import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { fetchOnce, startWebTier } from '../helpers/load.js';

const FLOOD = 1_200;
const CAP = 256;
const BATCH = 200;
const WAIT_MS = 30_000;

function openFrom(localAddress: string, port: number, onClose: () => void): Promise<Socket> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    socket.on('error', () => undefined);
    socket.once('close', onClose);
    socket.once('connect', () => resolve(socket));
    socket.once('close', () => resolve(socket));
  });
}

t.test('one host flooding idle connections holds at most the cap; descriptors bounded; another host served', async (t) => {
  // The headers timeout raised past WAIT_MS: the closes counted here must be the cap's, not idle connections reaped.
  const web = await startWebTier(t, { APP_UPSTREAMS: 'http://127.0.0.1:9', WEB_PROXY_HEALTH_INTERVAL_MS: '0', WEB_HEADERS_TIMEOUT_MS: '120000' });
  const descriptors = (): number => readdirSync(`/proc/${web.pid}/fd`).length;
  const before = descriptors();

  let closed = 0;
  let onClosed: () => void = () => undefined;
  const allRefused = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${closed} of ${FLOOD - CAP} refused within ${WAIT_MS} ms`)), WAIT_MS);
    onClosed = () => {
      closed += 1;
      if (closed === FLOOD - CAP) {
        clearTimeout(timer);
        resolve();
      }
    };
  });
  const sockets: Socket[] = [];
  t.teardown(() => sockets.forEach((socket) => socket.destroy()));
  for (let opened = 0; opened < FLOOD; opened += BATCH) {
    sockets.push(...(await Promise.all(Array.from({ length: BATCH }, () => openFrom('127.0.0.2', web.port, () => onClosed())))));
  }
  await allRefused;
  const during = descriptors();
  t.comment(`${FLOOD} connections from one host: ${FLOOD - closed} held, ${closed} closed at accept; web tier descriptors ${before} before, ${during} during`);
  t.ok(during <= before + CAP + 16, `descriptors bounded by the cap (${during})`);

  const other = await fetchOnce(`${web.url}/`, { timeoutMs: 10_000 });
  t.equal(other.status, 200, 'another host is served');
  const metrics = await fetchOnce(`${web.url}/-/metrics`, { timeoutMs: 10_000 });
  t.match(metrics.body, new RegExp(`twotier_web_limited_total\\{reason="connections"\\} ${FLOOD - CAP}\\b`), 'every refusal counted');
  const status = JSON.parse((await fetchOnce(`${web.url}/-/status.json`, { timeoutMs: 10_000 })).body) as { limits: { busiestPeer: unknown } };
  t.same(status.limits.busiestPeer, { address: '127.0.0.2', connections: CAP }, 'the status page names the busiest peer');
  const warnings = web.entry.lines.filter((line) => line['msg'] === 'peer at its connection cap: further connections are closed at accept');
  t.equal(warnings.length, 1, 'one warning for the flood, not one per connection');
});
