import t from 'tap';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { ConfigError } from '../../common/config.js';
import { createLogger } from '../../common/logger.js';
import { loadConfig } from '../../web-tier/config.js';
import { createPeerGuard } from '../../web-tier/peer-guard.js';
import { PEER_LIMIT_DEFAULTS, type PeerLimitSettings } from '../../web-tier/peer-limits.js';
import { createLogSink } from '../helpers/web-tier.js';

/** Enough of a net.Socket for the guard: an address, 'close', and destroy(). */
function fakeSocket(remoteAddress: string | undefined): Socket & { destroyed: boolean } {
  const socket = Object.assign(new EventEmitter(), {
    remoteAddress,
    destroyed: false,
    destroy() {
      socket.destroyed = true;
      return socket;
    },
  });
  return socket as unknown as Socket & { destroyed: boolean };
}

function fakeRequest(remoteAddress: string, forwardedFor?: string): IncomingMessage {
  return { socket: { remoteAddress }, headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor } } as unknown as IncomingMessage;
}

function guardWith(settings: Partial<PeerLimitSettings>, trustedProxies: readonly string[] = []) {
  const log = createLogSink();
  let now = 0;
  const guard = createPeerGuard({
    settings: { ...PEER_LIMIT_DEFAULTS, ...settings },
    trustedProxies,
    logger: createLogger({ tier: 'web', level: 'info', destination: log.stream }),
    now: () => now,
  });
  return { guard, log, advance: (ms: number) => (now += ms) };
}

t.test('config: defaults, env names, validation naming the key', async (t) => {
  const defaults = loadConfig(undefined, {});
  t.same(defaults.limits.peer, PEER_LIMIT_DEFAULTS, 'the config defaults are the module defaults');
  t.match(PEER_LIMIT_DEFAULTS, { maxConnectionsPerPeer: 256, ratePerSec: 0 }, 'cap on, rate off');
  const tuned = loadConfig(undefined, { WEB_PEER_MAX_CONNECTIONS: '0', WEB_PEER_RATE_PER_SEC: '20', WEB_PEER_RATE_BURST: '40', WEB_PEER_RATE_MAX_ENTRIES: '500' });
  t.same(tuned.limits.peer, { maxConnectionsPerPeer: 0, ratePerSec: 20, rateBurst: 40, maxRateEntries: 500 });
  for (const [env, key] of [
    [{ WEB_PEER_MAX_CONNECTIONS: '-1' }, 'WEB_PEER_MAX_CONNECTIONS'],
    [{ WEB_PEER_MAX_CONNECTIONS: 'lots' }, 'WEB_PEER_MAX_CONNECTIONS'],
    [{ WEB_PEER_RATE_PER_SEC: '1.5' }, 'WEB_PEER_RATE_PER_SEC'],
    [{ WEB_PEER_RATE_BURST: '0' }, 'WEB_PEER_RATE_BURST'],
    [{ WEB_PEER_RATE_MAX_ENTRIES: '1' }, 'WEB_PEER_RATE_MAX_ENTRIES'],
  ] as const) {
    const error = t.throws(() => loadConfig(undefined, env), { code: 'CONFIG_INVALID' }) as ConfigError;
    t.equal(error.key, key, `${JSON.stringify(env)} names ${key}`);
  }
});

t.test('connections: refused ones are destroyed and counted, logged once per episode; closing frees a place', async (t) => {
  const { guard, log } = guardWith({ maxConnectionsPerPeer: 2 });
  const open = [fakeSocket('::ffff:192.0.2.1'), fakeSocket('192.0.2.1')];
  for (const socket of open) guard.onConnection(socket);
  t.notOk(open.some((socket) => socket.destroyed), 'two admitted (IPv4-mapped is the same peer)');
  const refused = [fakeSocket('192.0.2.1'), fakeSocket('192.0.2.1'), fakeSocket('192.0.2.1')];
  for (const socket of refused) guard.onConnection(socket);
  t.ok(refused.every((socket) => socket.destroyed), 'the rest closed at once');
  t.match(guard.stats(), { refusedConnections: 3, openConnections: 2, peersConnected: 1, busiestPeer: { address: '192.0.2.1', connections: 2 } });
  t.equal(log.lines().filter((line) => line['msg']?.toString().includes('connection cap')).length, 1, 'one warning for the episode, not one per connection');
  open[0]?.emit('close');
  const next = fakeSocket('192.0.2.1');
  guard.onConnection(next);
  t.notOk(next.destroyed, 'a closed connection frees its place');
  guard.onConnection(fakeSocket(undefined));
  t.equal(guard.stats().openConnections, 2, 'a socket already gone is not counted');
});

t.test('connections: a trusted proxy is counted but never refused; a reload that distrusts it applies the cap to new connections', async (t) => {
  const { guard } = guardWith({ maxConnectionsPerPeer: 1 }, ['10.0.0.1']);
  const sockets = Array.from({ length: 5 }, () => fakeSocket('10.0.0.1'));
  for (const socket of sockets) guard.onConnection(socket);
  t.notOk(sockets.some((socket) => socket.destroyed));
  t.equal(guard.stats().openConnections, 5);
  guard.configure({ ...PEER_LIMIT_DEFAULTS, maxConnectionsPerPeer: 1 }, []);
  const after = fakeSocket('10.0.0.1');
  guard.onConnection(after);
  t.ok(after.destroyed, 'over the cap once it is no longer trusted');
});

t.test('rate: off by default; Retry-After whole seconds, never 0; forwarded clients of a trusted proxy', async (t) => {
  t.equal(guardWith({}).guard.retryAfter(fakeRequest('192.0.2.1')), undefined, 'rate 0: never limited');
  const { guard, advance } = guardWith({ ratePerSec: 4, rateBurst: 1 }, ['10.0.0.1']);
  t.equal(guard.retryAfter(fakeRequest('192.0.2.1')), undefined);
  t.equal(guard.retryAfter(fakeRequest('192.0.2.1')), 1, '250 ms to wait reads as 1 s');
  advance(250);
  t.equal(guard.retryAfter(fakeRequest('192.0.2.1')), undefined);
  const slow = guardWith({ ratePerSec: 1, rateBurst: 1 }).guard;
  slow.retryAfter(fakeRequest('192.0.2.1'));
  t.equal(slow.retryAfter(fakeRequest('192.0.2.1')), 1);
  t.equal(guard.retryAfter(fakeRequest('10.0.0.1', '203.0.113.5')), undefined);
  t.equal(guard.retryAfter(fakeRequest('10.0.0.1', '203.0.113.5')), 1, 'the forwarded client is limited');
  for (let index = 0; index < 10; index += 1) t.equal(guard.retryAfter(fakeRequest('10.0.0.1')), undefined, "the proxy's own requests are not");
  t.equal(guard.stats().limitedRequests, 2);
});
