/**
 * Applies peer-limits.ts to the server's connections and requests: server.ts calls
 * `onConnection` from its 'connection' event and `retryAfter` once per request, and hands the
 * guard to the metrics (counters and table sizes are read from `stats()` at scrape time).
 * One guard per server process: with WEB_WORKERS=N each worker counts its own share, so one
 * peer can hold up to N times the cap (nginx shares a zone between its workers; node's cluster
 * workers share no memory).
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../common/logger.js';
import { ConnectionCounts, normalizePeer, rateClient, RateTable, type PeerLimitSettings } from './peer-limits.js';

export interface PeerLimitStats {
  readonly maxConnectionsPerPeer: number;
  readonly ratePerSec: number;
  readonly rateBurst: number;
  /** Connections closed at accept because their peer held maxConnectionsPerPeer. */
  readonly refusedConnections: number;
  /** Requests answered 429 because their client was over its rate. */
  readonly limitedRequests: number;
  readonly openConnections: number;
  readonly peersConnected: number;
  readonly rateEntries: number;
  /** Rate buckets dropped while partly empty because the table was full (a flood of addresses). */
  readonly rateEntriesEvicted: number;
  readonly busiestPeer: { readonly address: string; readonly connections: number } | null;
}

export interface PeerGuard {
  /** The server's 'connection' event: counts the socket, or closes it at once when its peer is at the cap. */
  onConnection(socket: Socket): void;
  /** undefined when the request may go on; else the Retry-After seconds of its 429. */
  retryAfter(req: IncomingMessage): number | undefined;
  /** A reload: new limits and trusted proxies; open connections stay counted. */
  configure(settings: PeerLimitSettings, trustedProxies: readonly string[]): void;
  stats(): PeerLimitStats;
}

export function createPeerGuard(options: { settings: PeerLimitSettings; trustedProxies: readonly string[]; logger: Logger; now?: () => number }): PeerGuard {
  const { logger } = options;
  let settings = options.settings;
  let trusted = new Set(options.trustedProxies.map(normalizePeer));
  const connections = new ConnectionCounts();
  const rates = new RateTable(settings, options.now ?? (() => performance.now()));
  let refusedConnections = 0;
  let limitedRequests = 0;

  return {
    onConnection(socket) {
      const address = socket.remoteAddress;
      // Already gone (reset before node handed it over): nothing to count.
      if (address === undefined) return;
      const peer = normalizePeer(address);
      // Every connection is counted, trusted or not, so a reload that turns the cap on or
      // changes the trusted list starts from the true numbers.
      const admission = connections.admit(peer, trusted.has(peer) ? 0 : settings.maxConnectionsPerPeer);
      if (admission === 'admitted') {
        socket.once('close', () => connections.release(peer));
        return;
      }
      refusedConnections += 1;
      // Once per episode (until the peer's connections all close), not once per refused connection: a flood must not flood the log.
      if (admission === 'first-refusal') logger.warn({ peer, maxConnectionsPerPeer: settings.maxConnectionsPerPeer }, 'peer at its connection cap: further connections are closed at accept');
      // Before any request exists there is nothing to answer: closing without reading costs no
      // parser, timer or descriptor (HAProxy's `tcp-request connection reject` does the same).
      socket.destroy();
    },
    retryAfter(req) {
      if (settings.ratePerSec <= 0) return undefined;
      const client = rateClient(normalizePeer(req.socket.remoteAddress ?? ''), req.headers['x-forwarded-for'], trusted);
      if (client === undefined) return undefined;
      const waitMs = rates.take(client);
      if (waitMs === 0) return undefined;
      limitedRequests += 1;
      // RFC 9110 §10.2.3: delay-seconds, a whole number; never 0 (that invites an immediate retry).
      return Math.max(1, Math.ceil(waitMs / 1000));
    },
    configure(next, trustedProxies) {
      settings = next;
      trusted = new Set(trustedProxies.map(normalizePeer));
      rates.configure(next);
    },
    stats() {
      return {
        maxConnectionsPerPeer: settings.maxConnectionsPerPeer,
        ratePerSec: settings.ratePerSec,
        rateBurst: settings.rateBurst,
        refusedConnections,
        limitedRequests,
        openConnections: connections.total,
        peersConnected: connections.size,
        rateEntries: rates.size,
        rateEntriesEvicted: rates.evicted,
        busiestPeer: connections.busiest() ?? null,
      };
    },
  };
}
