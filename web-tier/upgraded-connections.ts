/**
 * The web tier's upgraded (WebSocket) connections, whoever serves them (the proxy's tunnels,
 * the embedded app's sockets): the caps that admit a handshake, the idle timeout of a
 * connection once its 101 is out, the byte counts the metrics and the status page read, and
 * their end on shutdown. A connection holds its place from its handshake until its socket
 * closes, so concurrent handshakes cannot overshoot a cap. One table per process, beside the
 * handlers: a reload that retires the proxy leaves it, and the tunnels in it, alone.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../common/logger.js';
import type { RequestContext } from './context.js';
import { TwotierError } from './error-response.js';
import type { WebSocketLimitsConfig } from './limits-config.js';
import { normalizePeer, rateClient } from './peer-limits.js';

export interface UpgradeStats {
  /** Connections switched (101 sent) and still open. */
  readonly open: number;
  /** Handshakes admitted and not answered yet. */
  readonly handshaking: number;
  /** Bytes read from clients on upgraded connections (frames towards the app), since start. */
  readonly bytesFromClients: number;
  /** Bytes written to clients on upgraded connections, since start. */
  readonly bytesToClients: number;
  /** Handshakes refused: 503 at maxConnections, 429 at maxPerPeer. */
  readonly limitedTotal: number;
  readonly limitedPerPeer: number;
  /** Connections closed by the idle timeout. */
  readonly idleClosed: number;
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxPerPeer: number;
}

export interface UpgradedConnections {
  /**
   * Counts a handshake against the caps: undefined when admitted (the place is held until the
   * socket closes), else the error to answer (429 for the client, 503 for the process, 503 while
   * shutting down).
   */
  admit(req: IncomingMessage, socket: Socket, head: Buffer, ctx: RequestContext): TwotierError | undefined;
  /** The 101 is out on `socket`: a connection from now on (its idle timeout starts). */
  switched(socket: Socket): void;
  stats(): UpgradeStats;
  /** Shutdown: handshakes are refused from now on; open connections get `graceMs`, then are closed. */
  close(graceMs: number): Promise<void>;
}

export interface UpgradedConnectionsOptions {
  /** Read on every handshake: a reload's new limits apply to the next one (and its idle timeout). */
  readonly settings: () => WebSocketLimitsConfig;
  /** WEB_TRUSTED_PROXIES, live: their clients are counted by X-Forwarded-For, as the request rate is. */
  readonly trusted: () => ReadonlySet<string>;
  readonly logger: Logger;
}

interface Entry {
  readonly peer: string | undefined;
  readonly ctx: RequestContext;
  /** bytesRead before this connection's own bytes past the request head (`head` included). */
  readonly baseRead: number;
  baseWritten: number;
  switchedAt: bigint | undefined;
}

export function createUpgradedConnections(options: UpgradedConnectionsOptions): UpgradedConnections {
  const { logger } = options;
  const entries = new Map<Socket, Entry>();
  const perPeer = new Map<string, number>();
  let handshaking = 0;
  let closedBytesIn = 0;
  let closedBytesOut = 0;
  let limitedTotal = 0;
  let limitedPerPeer = 0;
  let idleClosed = 0;
  let closing = false;
  let onEmpty: (() => void) | undefined;
  let trustedFrom: ReadonlySet<string> | undefined;
  let trusted: ReadonlySet<string> = new Set();

  /** The address a handshake is limited as: the same client the request rate counts (peer-limits.ts rateClient). */
  function clientOf(req: IncomingMessage): string | undefined {
    const given = options.trusted();
    if (given !== trustedFrom) {
      trustedFrom = given;
      trusted = new Set([...given].map(normalizePeer));
    }
    return rateClient(normalizePeer(req.socket.remoteAddress ?? ''), req.headers['x-forwarded-for'], trusted);
  }

  function onClose(socket: Socket): void {
    const entry = entries.get(socket);
    if (entry === undefined) return;
    entries.delete(socket);
    if (entry.peer !== undefined) {
      const left = (perPeer.get(entry.peer) ?? 1) - 1;
      if (left <= 0) perPeer.delete(entry.peer);
      else perPeer.set(entry.peer, left);
    }
    if (entry.switchedAt === undefined) handshaking -= 1;
    else {
      const bytesIn = socket.bytesRead - entry.baseRead;
      const bytesOut = socket.bytesWritten - entry.baseWritten;
      closedBytesIn += bytesIn;
      closedBytesOut += bytesOut;
      if (logger.isLevelEnabled('info')) {
        const ms = Number((process.hrtime.bigint() - entry.switchedAt) / 1000n) / 1000;
        logger.info({ reqId: entry.ctx.requestId, upstream: entry.ctx.upstream, ms, bytesIn, bytesOut }, 'upgraded connection closed');
      }
    }
    if (entries.size === 0) onEmpty?.();
  }

  return {
    admit(req, socket, head, ctx) {
      if (closing) return new TwotierError('WEB_ERR_UPSTREAM_UNAVAILABLE', 'shutting down: no new upgraded connections', { headers: { 'Retry-After': '1' } });
      const settings = options.settings();
      const peer = clientOf(req);
      if (settings.maxConnections > 0 && entries.size >= settings.maxConnections) {
        limitedTotal += 1;
        ctx.logger.warn({ maxConnections: settings.maxConnections }, 'upgraded connections at their cap (WEB_WS_MAX_CONNECTIONS)');
        return new TwotierError('WEB_ERR_OVERLOADED', 'upgraded connections at WEB_WS_MAX_CONNECTIONS', { headers: { 'Retry-After': '1' } });
      }
      const held = peer === undefined ? 0 : perPeer.get(peer) ?? 0;
      if (peer !== undefined && settings.maxPerPeer > 0 && held >= settings.maxPerPeer) {
        limitedPerPeer += 1;
        ctx.logger.info({ peer, maxPerPeer: settings.maxPerPeer }, 'client at its upgraded-connection cap (WEB_WS_MAX_PER_PEER)');
        // RFC 6585 §4: the client holds too many; it may try again once one of them closes.
        return new TwotierError('WEB_ERR_TOO_MANY_REQUESTS', 'client at WEB_WS_MAX_PER_PEER', { headers: { 'Retry-After': '1' } });
      }
      if (peer !== undefined) perPeer.set(peer, held + 1);
      entries.set(socket, { peer, ctx, baseRead: socket.bytesRead - head.length, baseWritten: 0, switchedAt: undefined });
      handshaking += 1;
      socket.once('close', () => onClose(socket));
      return undefined;
    },
    switched(socket) {
      const entry = entries.get(socket);
      if (entry === undefined || entry.switchedAt !== undefined) return;
      handshaking -= 1;
      entry.switchedAt = process.hrtime.bigint();
      // The 101 head itself is the handshake's (its access line), not the connection's.
      entry.baseWritten = socket.bytesWritten;
      const idleMs = options.settings().idleTimeoutMs;
      // net's timer counts activity both ways on this socket, and every byte of the tunnel
      // crosses it: one timer per connection, nothing per chunk.
      if (idleMs > 0) {
        socket.setTimeout(idleMs, () => {
          idleClosed += 1;
          entry.ctx.logger.info({ idleTimeoutMs: idleMs }, 'upgraded connection idle: closed (WEB_WS_IDLE_TIMEOUT_MS)');
          socket.destroy();
        });
      } else socket.setTimeout(0);
    },
    stats() {
      let bytesIn = closedBytesIn;
      let bytesOut = closedBytesOut;
      for (const [socket, entry] of entries) {
        if (entry.switchedAt === undefined) continue;
        bytesIn += socket.bytesRead - entry.baseRead;
        bytesOut += socket.bytesWritten - entry.baseWritten;
      }
      const settings = options.settings();
      return {
        open: entries.size - handshaking,
        handshaking,
        bytesFromClients: bytesIn,
        bytesToClients: bytesOut,
        limitedTotal,
        limitedPerPeer,
        idleClosed,
        idleTimeoutMs: settings.idleTimeoutMs,
        maxConnections: settings.maxConnections,
        maxPerPeer: settings.maxPerPeer,
      };
    },
    close(graceMs) {
      closing = true;
      if (entries.size === 0) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          if (entries.size > 0) logger.info({ open: entries.size, graceMs }, 'upgraded connections still open after the drain grace: closing them');
          // Their sockets are out of node's hands (the parser let go at the upgrade): closeAllConnections never sees them.
          for (const socket of [...entries.keys()]) socket.destroy();
        }, graceMs);
        timer.unref();
        onEmpty = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    },
  };
}
