/**
 * The bounds on upgraded connections (issue 16): the caps in total and per client (503/429 as
 * HTTP, never a silent close), the idle timeout, the metrics and status page figures, a reload
 * that leaves them open, and a shutdown that gives them the drain grace and then closes them.
 */
import t from 'tap';
import { closed, connect, roundTrip, startWebFor, startWsUpstream } from './upgrade-helpers.js';
import { request } from './helpers.js';
import { withOverrides } from '../../helpers/web-tier.js';

t.test('over WEB_WS_MAX_PER_PEER a handshake is a 429, over WEB_WS_MAX_CONNECTIONS a 503', async (t) => {
  const upstream = await startWsUpstream(t);
  const perPeer = await startWebFor(t, upstream.url, { env: { WEB_WS_MAX_PER_PEER: '1' } });
  const first = await connect(t, perPeer.port);
  t.equal(first.kind, 'open');
  const second = await connect(t, perPeer.port);
  t.equal(second.kind === 'refused' ? second.status : second.kind, 429, 'the same client, one over its cap');
  t.equal(second.kind === 'refused' ? second.headers['retry-after'] : undefined, '1');
  if (first.kind === 'open') {
    first.socket.close();
    await closed(first.socket);
  }
  const again = await connect(t, perPeer.port);
  t.equal(again.kind, 'open', 'its place is free once its connection closed');

  const total = await startWebFor(t, upstream.url, { env: { WEB_WS_MAX_CONNECTIONS: '1' } });
  t.equal((await connect(t, total.port)).kind, 'open');
  const over = await connect(t, total.port);
  t.equal(over.kind === 'refused' ? over.status : over.kind, 503, 'the process at its cap');
});

t.test('the handshake counts against the request rate like any request', async (t) => {
  const upstream = await startWsUpstream(t);
  const { port } = await startWebFor(t, upstream.url, { env: { WEB_PEER_RATE_PER_SEC: '1', WEB_PEER_RATE_BURST: '1' } });
  t.equal((await connect(t, port)).kind, 'open');
  const limited = await connect(t, port);
  t.equal(limited.kind === 'refused' ? limited.status : limited.kind, 429);
});

t.test('an idle upgraded connection is closed after WEB_WS_IDLE_TIMEOUT_MS; an active one is not', async (t) => {
  const upstream = await startWsUpstream(t);
  const web = await startWebFor(t, upstream.url, { env: { WEB_WS_IDLE_TIMEOUT_MS: '300' } });
  const opened = await connect(t, web.port);
  if (opened.kind !== 'open') throw new Error(`handshake ended ${JSON.stringify(opened)}`);
  t.equal(await closed(opened.socket), 1006, 'closed by the web tier (no close frame: frames are not parsed)');
  const line = web.log.lines().find((entry) => entry['msg'] === 'upgraded connection idle: closed (WEB_WS_IDLE_TIMEOUT_MS)');
  t.ok(line, 'one log line says why');
  const metrics = await request(web.port, { path: '/-/metrics' });
  t.match(metrics.body, /twotier_web_upgrades_refused_total\{reason="idle"\} 1/);
});

t.test('metrics and the status page show open upgraded connections and bytes each way', async (t) => {
  const upstream = await startWsUpstream(t);
  const { port } = await startWebFor(t, upstream.url);
  const opened = await connect(t, port);
  if (opened.kind !== 'open') throw new Error(`handshake ended ${JSON.stringify(opened)}`);
  await roundTrip(opened.socket, 'x'.repeat(1000));
  const metrics = await request(port, { path: '/-/metrics' });
  t.match(metrics.body, /twotier_web_upgraded_connections\{state="open"\} 1/);
  const fromClient = Number(/twotier_web_upgraded_bytes_total\{direction="from_client"\} (\d+)/.exec(metrics.body)?.[1]);
  const toClient = Number(/twotier_web_upgraded_bytes_total\{direction="to_client"\} (\d+)/.exec(metrics.body)?.[1]);
  // 1000 bytes of payload, masked frame header from the client, plain header back.
  t.ok(fromClient >= 1000 && fromClient < 1100, `from_client ${fromClient}`);
  t.ok(toClient >= 1000 && toClient < 1100, `to_client ${toClient}`);
  const status = JSON.parse((await request(port, { path: '/-/status.json' })).body) as { upgrades: { open: number; bytesFromClients: number } };
  t.equal(status.upgrades.open, 1);
  t.equal(status.upgrades.bytesFromClients, fromClient);
  opened.socket.close();
  await closed(opened.socket);
});

t.test('a reload (new upstreams) leaves open upgraded connections alone', async (t) => {
  const upstream = await startWsUpstream(t);
  const other = await startWsUpstream(t);
  const { web, port, config } = await startWebFor(t, upstream.url);
  const opened = await connect(t, port);
  if (opened.kind !== 'open') throw new Error(`handshake ended ${JSON.stringify(opened)}`);
  const result = await web.reload(withOverrides(config, { proxy: { upstreams: [other.url] }, limits: { websocket: { idleTimeoutMs: 5_000 } } }));
  t.ok(result.applied.includes('proxy.upstreams'));
  t.equal(await roundTrip(opened.socket, 'still here'), 'still here', 'the tunnel to the retired proxy keeps working');
  const next = await connect(t, port);
  t.equal(next.kind, 'open');
  t.equal(other.handshakes.length, 1, 'new handshakes go to the new upstreams');
});

t.test('shutdown gives upgraded connections the drain grace, then closes them', async (t) => {
  const upstream = await startWsUpstream(t);
  const { web, port } = await startWebFor(t, upstream.url, { env: { WEB_SHUTDOWN_TIMEOUT_MS: '400' } });
  const opened = await connect(t, port);
  if (opened.kind !== 'open') throw new Error(`handshake ended ${JSON.stringify(opened)}`);
  const started = Date.now();
  const closing = web.close();
  t.equal(await roundTrip(opened.socket, 'during the grace'), 'during the grace', 'still carried during the grace');
  t.equal(await closed(opened.socket), 1006, 'closed once the grace is over');
  await closing;
  t.ok(Date.now() - started >= 300, 'not before the grace');
});
