/**
 * Per-client limits (issue 12 item 4), the bookkeeping only: no sockets, no timers, the clock
 * injected. peer-guard.ts applies them to connections and requests.
 *
 * - `ConnectionCounts`: open connections per peer address, and a cap on them. nginx's
 *   `limit_conn` counts only connections "that have a request being processed by the server
 *   and the whole request header has already been read" (ngx_http_limit_conn_module docs), so
 *   it cannot see idle connections, the ones that exhausted our file descriptors. This cap counts
 *   from accept, like HAProxy's `tcp-request connection reject if { src_conn_cur ge N }`.
 *   Its size is bounded by the open sockets themselves: an entry lives while its peer has one.
 * - `RateTable`: a token bucket per client, nginx's `limit_req zone=… rate=R burst=B nodelay`
 *   (ngx_http_limit_req_module): up to B requests at once, then one every 1/R s; no delaying.
 *   Bounded: at most `maxRateEntries` buckets; the least recently seen clients are forgotten
 *   first (nginx evicts its zone's least recently used states the same way).
 */
import { isIP } from 'node:net';
import { LIMITS_DEFAULTS, type PeerLimitsConfig } from './limits-config.js';

/** limits-config.ts's `peer` group: validated once by web-tier/config.ts. */
export type PeerLimitSettings = PeerLimitsConfig;

/** The config's defaults, for a guard built without them (tests). */
export const PEER_LIMIT_DEFAULTS: PeerLimitSettings = LIMITS_DEFAULTS.peer;

/** "::ffff:10.0.0.1" → "10.0.0.1", lower case: one spelling per peer, as keys and for comparison. */
export function normalizePeer(address: string): string {
  const plain = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
  return plain.toLowerCase();
}

/** One X-Forwarded-For element as an address: "[v6]:port", "v4:port" and quotes tolerated; undefined when it is none. */
function forwardedAddress(element: string): string | undefined {
  let value = element.replace(/^"|"$/g, '');
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(value);
  if (bracketed !== null) value = bracketed[1] as string;
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(value)) value = value.slice(0, value.lastIndexOf(':'));
  return isIP(value) === 0 ? undefined : normalizePeer(value);
}

/**
 * The address a request is limited as. An untrusted peer is itself (its X-Forwarded-For is
 * anyone's claim). A trusted proxy's request is its client's: the last X-Forwarded-For element
 * that is not a trusted proxy (nginx `real_ip_recursive on`), since only what trusted hops
 * appended can be believed. undefined: exempt — the trusted proxy's own request (no
 * X-Forwarded-For, only trusted hops in it, or an element that is not an address, which nginx's
 * realip also ignores).
 */
export function rateClient(peer: string, forwardedFor: string | readonly string[] | undefined, trusted: ReadonlySet<string>): string | undefined {
  if (!trusted.has(peer)) return peer;
  if (forwardedFor === undefined) return undefined;
  const elements = (typeof forwardedFor === 'string' ? forwardedFor : forwardedFor.join(',')).split(',');
  for (let index = elements.length - 1; index >= 0; index -= 1) {
    const element = (elements[index] as string).trim();
    if (element === '') continue;
    const address = forwardedAddress(element);
    if (address === undefined) return undefined;
    if (!trusted.has(address)) return address;
  }
  return undefined;
}

interface OpenCount {
  open: number;
  /** Connections refused since this peer's entry was made: the first one is logged. */
  refused: number;
}

export type Admission = 'admitted' | 'refused' | 'first-refusal';

export class ConnectionCounts {
  private readonly peers = new Map<string, OpenCount>();
  private openTotal = 0;

  /** Counts a new connection unless its peer already holds `cap` (0 = no cap); a refused one is not counted. */
  admit(peer: string, cap: number): Admission {
    const entry = this.peers.get(peer);
    if (entry === undefined) {
      this.peers.set(peer, { open: 1, refused: 0 });
    } else if (cap > 0 && entry.open >= cap) {
      entry.refused += 1;
      return entry.refused === 1 ? 'first-refusal' : 'refused';
    } else {
      entry.open += 1;
    }
    this.openTotal += 1;
    return 'admitted';
  }

  /** An admitted connection closed. */
  release(peer: string): void {
    const entry = this.peers.get(peer);
    if (entry === undefined) return;
    this.openTotal -= 1;
    entry.open -= 1;
    if (entry.open <= 0) this.peers.delete(peer);
  }

  openOf(peer: string): number {
    return this.peers.get(peer)?.open ?? 0;
  }

  get size(): number {
    return this.peers.size;
  }

  get total(): number {
    return this.openTotal;
  }

  /** The peer holding the most connections (a scan: for the status page, once a second at most). */
  busiest(): { readonly address: string; readonly connections: number } | undefined {
    let best: { address: string; connections: number } | undefined;
    for (const [address, entry] of this.peers) {
      if (best === undefined || entry.open > best.connections) best = { address, connections: entry.open };
    }
    return best;
  }
}

interface Bucket {
  tokens: number;
  /** Clock reading when `tokens` was computed. */
  at: number;
}

/**
 * Token buckets in two generations (sindresorhus/quick-lru's scheme): new clients go into
 * `current`; when it holds half the entries allowed it becomes `previous` and the old `previous`
 * is dropped whole. A client seen in `previous` moves back to `current`. So a client used at
 * least once every maxRateEntries/2 new clients keeps its bucket, the table never holds more
 * than maxRateEntries, and each step is O(1): no delete-and-reinsert per request, and no scan
 * from the front of a Map full of deleted slots (V8 keeps those until it rehashes).
 */
export class RateTable {
  private current = new Map<string, Bucket>();
  private previous = new Map<string, Bucket>();
  private evictedCount = 0;

  constructor(
    private settings: Pick<PeerLimitSettings, 'ratePerSec' | 'rateBurst' | 'maxRateEntries'>,
    private readonly now: () => number,
  ) {}

  /** New settings; buckets are kept (a smaller burst caps them on their next use, a smaller table rolls over sooner). */
  configure(settings: Pick<PeerLimitSettings, 'ratePerSec' | 'rateBurst' | 'maxRateEntries'>): void {
    this.settings = settings;
    if (settings.ratePerSec <= 0) {
      this.current = new Map();
      this.previous = new Map();
    }
  }

  /** Takes one token for `client`: 0 when the request may go on, else milliseconds until its next token. */
  take(client: string): number {
    const { ratePerSec, rateBurst } = this.settings;
    if (ratePerSec <= 0) return 0;
    const now = this.now();
    let bucket = this.current.get(client);
    if (bucket === undefined) {
      bucket = this.previous.get(client);
      if (bucket === undefined) bucket = { tokens: rateBurst, at: now };
      else this.previous.delete(client);
      this.insert(client, bucket, now);
    }
    bucket.tokens = this.level(bucket, now);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) * 1000) / ratePerSec);
  }

  get size(): number {
    return this.current.size + this.previous.size;
  }

  /** Buckets dropped while still partly empty because the table was full (a refilled one is the same as none). */
  get evicted(): number {
    return this.evictedCount;
  }

  private level(bucket: Bucket, now: number): number {
    const elapsed = Math.max(0, now - bucket.at);
    return Math.min(this.settings.rateBurst, bucket.tokens + (elapsed * this.settings.ratePerSec) / 1000);
  }

  private insert(client: string, bucket: Bucket, now: number): void {
    if (this.current.size >= Math.max(1, Math.floor(this.settings.maxRateEntries / 2))) {
      // Once per maxRateEntries/2 new clients: counting what is dropped costs one pass over it.
      for (const dropped of this.previous.values()) if (this.level(dropped, now) < this.settings.rateBurst) this.evictedCount += 1;
      this.previous = this.current;
      this.current = new Map();
    }
    this.current.set(client, bucket);
  }
}
