/**
 * The limits every request meets before it is classified (limits.ts, peer-guard.ts,
 * lingering-close.ts, parser-errors.ts): sizes, the slow-client timeouts, the lingering close
 * after an early answer, and the per-client caps. Validated once by web-tier/config.ts.
 */
import { z } from 'zod';
import { fields, type Frozen } from '../common/config.js';

const MiB = 1024 * 1024;

export const limitsSchema = z.object({
  /** Request body bytes at most (WEB_MAX_BODY) → 413; the proxy, the CGI gateway and the embedded app enforce it too. */
  maxBodyBytes: fields.nonNegativeInt('a byte count (0 or more)'),
  /** Request-target length (nginx: large_client_header_buffers 8k) → 414 above it. */
  maxUrlBytes: fields.positiveInt('a byte count (1 or more)'),
  /** Header section without the request line (node's default maxHeaderSize, 16 KiB) → 431 above it. */
  maxHeaderBytes: fields.positiveInt('a byte count (1 or more)'),
  /** Header fields in one request (Apache LimitRequestFields 100) → 431 above it; never truncated. */
  maxHeaderFields: fields.positiveInt('a number of header fields (1 or more)').max(10_000, 'must be a number of header fields (1 to 10000)'),
  /** Whole header section must arrive within this (slowloris). */
  headersTimeoutMs: fields.positiveInt('a number of milliseconds (1 or more)'),
  /** Whole request, body included, must arrive within this. */
  requestTimeoutMs: fields.positiveInt('a number of milliseconds (1 or more)'),
  /** After an early error answer, read and discard what the client still sends for at most this long (nginx lingering_time). */
  lingeringTimeMs: fields.nonNegativeInt('a number of milliseconds (0 = close at once)'),
  /** … and stop when nothing arrived for this long (nginx lingering_timeout). */
  lingeringTimeoutMs: fields.positiveInt('a number of milliseconds (1 or more)'),
  /** … and stop after this many discarded bytes. */
  lingeringMaxBytes: fields.nonNegativeInt('a byte count (0 or more)'),
  /** Per-client limits (peer-limits.ts); trusted proxies are exempt. */
  peer: z.object({
    /** Open connections per client address (closed at accept above it; like nginx limit_conn); 0 = no cap. */
    maxConnectionsPerPeer: fields.nonNegativeInt('a count of connections (0 = no cap)'),
    /** Requests per second per client, token bucket (nginx limit_req, nodelay) → 429 + Retry-After; 0 = off. */
    ratePerSec: fields.nonNegativeInt('a number of requests per second (0 = off)'),
    /** Requests a client may make at once before the rate applies (the bucket size). */
    rateBurst: fields.positiveInt('a number of requests (1 or more)'),
    /** Clients whose rate is remembered at most; the least recently seen are forgotten first. */
    maxRateEntries: fields.positiveInt('a count (2 or more)').min(2, 'must be a count (2 or more)'),
  }).strict(),
  /** Upgraded (WebSocket) connections (upgraded-connections.ts): held for minutes, so bounded apart from requests. */
  websocket: z.object({
    /** An upgraded connection with no byte either way for this long is closed (nginx proxy_read_timeout); 0 = never. Separate from keep-alive. */
    idleTimeoutMs: fields.nonNegativeInt('a number of milliseconds (0 = no idle timeout)'),
    /** Upgraded connections (handshakes under way included) at most in this process → 503 + Retry-After; 0 = no cap. */
    maxConnections: fields.nonNegativeInt('a count of connections (0 = no cap)'),
    /** … per client (the address the request rate is counted for; trusted proxies' own exempt) → 429 + Retry-After; 0 = no cap. */
    maxPerPeer: fields.nonNegativeInt('a count of connections (0 = no cap)'),
  }).strict(),
}).strict();

export type LimitsConfig = Frozen<z.infer<typeof limitsSchema>>;
/** The per-client limits (peer-limits.ts, peer-guard.ts). */
export type PeerLimitsConfig = LimitsConfig['peer'];
/** The lingering close after an early answer (lingering-close.ts). */
export type LingerConfig = Pick<LimitsConfig, 'lingeringTimeMs' | 'lingeringTimeoutMs' | 'lingeringMaxBytes'>;
/** The bounds on upgraded connections (upgraded-connections.ts). */
export type WebSocketLimitsConfig = LimitsConfig['websocket'];

export const LIMITS_DEFAULTS: LimitsConfig = Object.freeze({
  maxBodyBytes: 1 * MiB,
  maxUrlBytes: 8 * 1024,
  maxHeaderBytes: 16 * 1024,
  maxHeaderFields: 100,
  headersTimeoutMs: 20_000,
  requestTimeoutMs: 120_000,
  lingeringTimeMs: 30_000,
  lingeringTimeoutMs: 5_000,
  lingeringMaxBytes: 64 * MiB,
  peer: Object.freeze({
    // One browser opens at most ~6 per origin; 256 leaves room for an office behind one NAT and
    // still keeps one host from holding more than a sliver of the descriptors.
    maxConnectionsPerPeer: 256,
    // Off: a per-address rate that suits a site depends on its pages, and the bench's tens of
    // thousands of requests per second from one loopback address must not be turned away.
    ratePerSec: 0,
    rateBurst: 50,
    // ~100 bytes a bucket: about 1 MB at most (nginx's 1 MB zone holds ~16 000 states).
    maxRateEntries: 10_000,
  }),
  websocket: Object.freeze({
    // nginx's proxy_read_timeout default, which its WebSocket proxying inherits: an app that
    // pings every 30 s (the usual) keeps its connections.
    idleTimeoutMs: 60_000,
    // Two sockets and their buffers each: 10 000 stays well inside the descriptors and the heap
    // the web tier runs with (--max-old-space-size=512).
    maxConnections: 10_000,
    // A browser holds a few per page; below the per-peer connection cap (256), so an office
    // behind one NAT can keep its pages live while one host cannot take them all.
    maxPerPeer: 128,
  }),
});

/** The section's own rule, checked after validation: a header deadline past the request's would never fire. */
export function checkLimits(limits: LimitsConfig): { key: string; message: string } | undefined {
  if (limits.headersTimeoutMs <= limits.requestTimeoutMs) return undefined;
  return { key: 'headersTimeoutMs', message: `headersTimeoutMs (${limits.headersTimeoutMs}) must not exceed requestTimeoutMs (${limits.requestTimeoutMs})` };
}

/** The flat config-file keys used before the sections (issue 14) → their place in this one. */
export const LIMITS_FORMER_KEYS: Readonly<Record<string, string>> = {
  maxBodyBytes: 'maxBodyBytes', maxUrlBytes: 'maxUrlBytes', maxHeaderBytes: 'maxHeaderBytes', maxHeaderFields: 'maxHeaderFields',
  headersTimeoutMs: 'headersTimeoutMs', requestTimeoutMs: 'requestTimeoutMs',
  lingeringTimeMs: 'lingeringTimeMs', lingeringTimeoutMs: 'lingeringTimeoutMs', lingeringMaxBytes: 'lingeringMaxBytes',
  peerMaxConnections: 'peer.maxConnectionsPerPeer', peerRatePerSec: 'peer.ratePerSec', peerRateBurst: 'peer.rateBurst', peerRateMaxEntries: 'peer.maxRateEntries',
};
