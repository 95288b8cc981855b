/**
 * WebSocket upgrades through the proxy (issue 16): the handshake goes to an upstream picked by
 * the same pool and admission as any request, with the same edge header rules (headers.ts) plus
 * `Connection: Upgrade` / `Upgrade: websocket`, which are hop-by-hop and so sent again by this
 * hop (RFC 9110 §7.6.1, §7.8). The upstream's 101 is relayed, then the two sockets are spliced
 * with pipe() both ways (back-pressure in each direction); frames are never parsed.
 *
 * Both engines use this one path (node's own client and its 'upgrade' event): http-proxy's ws
 * passes are where its crash reports live. Every failure ends both sockets and never the
 * process: an 'error' listener is on every socket before anything can fail on it
 * (http-proxy#1468, #1439: an upstream reset after the 101, with no listener on the upstream
 * socket, throws ECONNRESET out of the event loop).
 *
 *   already through this deployment (its own Via element: loop-guard.ts) → 508, never sent on
 *   refused / unresolvable before the 101 → retried elsewhere as a request is, else 502
 *   connect or 101 too slow (connectTimeoutMs, responseTimeoutMs) → 504
 *   upstream answers other than 101 → that response relayed as HTTP, then the connection closes
 *   client gone during the handshake → the upstream request is cut, its slot given back
 *   either side gone after the 101 → the other side is destroyed
 *   bytes the client sent before the 101 (`head`, then whatever is still in its socket) →
 *   written to the upstream after the 101, in order
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TwotierError } from '../../common/errors.js';
import type { UpgradeContext, UpgradeEntry } from '../context.js';
import { sendError } from '../error-response.js';
import type { Admission } from './admission.js';
import { createFreshConnectionAgent } from './agent.js';
import type { UpstreamTlsOptions } from './upstream-tls.js';
import type { ProxyConfig } from './config.js';
import { errorCode, isNeverSent, toUpstreamError, upstreamsOverloaded, upstreamUnavailable, UpstreamTimeoutError } from './errors.js';
import { buildRequestHeaderList, buildResponseHeaders, edgeFactsOf } from './headers.js';
import { loopDetected, type LoopGuard } from './loop-guard.js';
import type { Upstream, UpstreamPool } from './pool.js';

export interface UpgradeForwarderParts {
  readonly pool: UpstreamPool;
  readonly admission: Admission;
  readonly settings: Pick<ProxyConfig, 'connectTimeoutMs' | 'responseTimeoutMs' | 'nextUpstreamTries'>;
  /** WEB_TRUSTED_PROXIES, normalised (headers.ts normalizeAddress). */
  readonly trusted: ReadonlySet<string>;
  /** https:// upstreams (issue 15): the CA the upgrade's own connection verifies against, as every other. */
  readonly tls?: UpstreamTlsOptions | undefined;
  /** This deployment's Via element and the loop check (loop-guard.ts), and the handler's loop warning. */
  readonly guard: LoopGuard;
  readonly onLoop: (ctx: UpgradeContext) => void;
  /** The proxy is closing: no new handshakes (503). */
  readonly closed: () => boolean;
  /** The request-target for the upstream (handler.ts upstreamTarget). */
  readonly target: (req: IncomingMessage, ctx: UpgradeContext) => string;
}

/**
 * Bytes a client may send before its 101 that the edge holds (RFC 6455 has it wait, but nothing
 * stops it). Past this the socket is paused: TCP's own flow control then holds the rest.
 */
const EARLY_BYTES = 64 * 1024;

/** The hop's own upgrade fields: this connection switches to websocket and nothing else. */
const UPGRADE_FIELDS: readonly string[] = ['Connection', 'Upgrade', 'Upgrade', 'websocket'];

/** RFC 6455 §4.1: the client fails the connection unless the 101 names websocket; so does the edge. */
function switchesToWebSocket(proxyRes: IncomingMessage): boolean {
  const upgrade = proxyRes.headers.upgrade;
  return proxyRes.statusCode === 101 && typeof upgrade === 'string' && upgrade.trim().toLowerCase() === 'websocket';
}

/**
 * Pipes each socket into the other, and destroys both when either closes (a reset, an idle
 * timeout, the end of the close handshake). pipe() pauses the faster side while the other's
 * buffer is full, so a slow reader never makes the web tier buffer a fast writer's frames.
 */
export function splice(client: Socket, upstream: Socket): void {
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  const end = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.once('close', end);
  upstream.once('close', end);
  // A FIN from one side is passed on as a FIN (pipe's end: true); the close that follows ends both.
  client.pipe(upstream);
  upstream.pipe(client);
}

class UpgradeExchange {
  readonly #parts: UpgradeForwarderParts;
  readonly #req: IncomingMessage;
  readonly #client: Socket;
  readonly #head: Buffer;
  readonly #ctx: UpgradeContext;
  readonly #tried: Upstream[] = [];
  /** The upstream whose admission slot this handshake holds (until the 101, the relayed answer or the failure). */
  #holding: Upstream | undefined;
  #cancelWait: (() => void) | undefined;
  #proxyReq: ClientRequest | undefined;
  #timer: NodeJS.Timeout | undefined;
  #sentAt = 0;
  /** The client has its answer (or is gone): nothing more is done for it. */
  #done = false;
  /** What the client sent after `head`, before its 101 (held in order, bounded by EARLY_BYTES). */
  readonly #early: Buffer[] = [];
  #earlyBytes = 0;
  readonly #onEarly = (chunk: Buffer): void => {
    this.#early.push(chunk);
    this.#earlyBytes += chunk.length;
    if (this.#earlyBytes >= EARLY_BYTES) this.#client.pause();
  };
  /** A FIN during the handshake: the client is gone (a WebSocket client never half-closes before its 101). */
  readonly #onClientEnd = (): void => {
    this.#client.destroy();
  };

  constructor(parts: UpgradeForwarderParts, req: IncomingMessage, client: Socket, head: Buffer, ctx: UpgradeContext) {
    this.#parts = parts;
    this.#req = req;
    this.#client = client;
    this.#head = head;
    this.#ctx = ctx;
  }

  start(): void {
    const { pool, closed } = this.#parts;
    if (closed()) return this.#answer(upstreamUnavailable(1));
    if (this.#parts.guard.looped(this.#req.headers.via)) {
      this.#parts.onLoop(this.#ctx);
      return this.#answer(loopDetected());
    }
    if (!pool.hasHealthy()) {
      this.#ctx.logger.warn({ upstreams: pool.states() }, 'no healthy upstream');
      return this.#answer(upstreamUnavailable(pool.retryAfterSeconds()));
    }
    this.#client.once('close', () => this.#onClientGone());
    // Read during the handshake: a socket nobody reads never learns that its peer has gone (its
    // FIN waits in the kernel), and the upstream request would be held until the response timeout.
    this.#client.on('data', this.#onEarly);
    this.#client.once('end', this.#onClientEnd);
    this.#admit();
  }

  #admit(): void {
    const ticket = this.#parts.admission.admit(this.#tried.length === 0 ? undefined : this.#tried, (upstream) => this.#send(upstream), (reason) => {
      this.#cancelWait = undefined;
      this.#answer(reason === 'unavailable' ? upstreamUnavailable(this.#parts.pool.retryAfterSeconds()) : upstreamsOverloaded(reason));
    });
    this.#cancelWait = () => ticket.cancel();
  }

  #send(upstream: Upstream): void {
    this.#cancelWait = undefined;
    this.#holding = upstream;
    if (this.#done) return this.#release();
    this.#tried.push(upstream);
    this.#ctx.upstream = upstream.url;
    const req = this.#req;
    const head = [...buildRequestHeaderList(req.rawHeaders, edgeFactsOf(req, this.#ctx.requestId, this.#parts.guard.via), this.#parts.trusted), ...UPGRADE_FIELDS];
    let proxyReq: ClientRequest;
    try {
      // A connection of its own: it leaves the pool for good at the 101, and a pooled agent's close() must not cut it.
      const options = { host: upstream.hostname, port: upstream.port, method: 'GET', path: upstream.basePath + this.#parts.target(req, this.#ctx), headers: head };
      // An https:// upstream: verified TLS with the configured name, never the handshake in clear (upstream-tls.ts).
      const ca = this.#parts.tls?.ca;
      proxyReq = upstream.tls === undefined
        ? httpRequest({ ...options, agent: createFreshConnectionAgent() })
        : httpsRequest({ ...options, agent: false, servername: upstream.tls.servername, ...(ca === undefined ? {} : { ca }) });
    } catch (error) {
      this.#fail(error);
      return;
    }
    this.#proxyReq = proxyReq;
    this.#sentAt = performance.now();
    // Each listener acts only for the attempt in flight: a timed-out or retried one may still report.
    const current = (): boolean => this.#proxyReq === proxyReq;
    proxyReq.on('error', (error) => {
      if (current()) this.#fail(error);
    });
    const { connectTimeoutMs, responseTimeoutMs } = this.#parts.settings;
    this.#arm('connect', connectTimeoutMs);
    proxyReq.once('socket', (socket: Socket) => {
      const connected = (): void => this.#arm('response', responseTimeoutMs);
      if (socket.connecting) socket.once('connect', connected);
      else connected();
    });
    proxyReq.once('response', (proxyRes: IncomingMessage) => {
      if (current()) this.#relay(proxyRes);
      else proxyRes.destroy();
    });
    proxyReq.once('upgrade', (proxyRes: IncomingMessage, proxySocket: Socket, proxyHead: Buffer) => {
      if (current()) this.#switch(proxyRes, proxySocket, proxyHead);
      else proxySocket.on('error', () => undefined).destroy();
    });
    proxyReq.end();
  }

  /** One timer at a time: connect until the TCP connection is up, then response until the 101 (or another answer). */
  #arm(phase: 'connect' | 'response', ms: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const proxyReq = this.#proxyReq;
    this.#timer = setTimeout(() => {
      if (proxyReq === undefined || this.#proxyReq !== proxyReq) return;
      const error = new UpstreamTimeoutError(phase, ms);
      this.#fail(error);
      proxyReq.destroy(error);
    }, ms);
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #release(): void {
    const upstream = this.#holding;
    this.#holding = undefined;
    if (upstream !== undefined) this.#parts.admission.release(upstream);
  }

  /** The handshake failed before any answer: counted against the upstream, retried elsewhere when it never left, else 502/504. */
  #fail(error: unknown): void {
    if (this.#done) return;
    this.#disarm();
    const upstream = this.#holding;
    this.#release();
    const sent = this.#proxyReq !== undefined;
    this.#proxyReq = undefined;
    if (upstream !== undefined && sent) this.#parts.pool.reportFailure(upstream, errorCode(error));
    const { pool, settings } = this.#parts;
    if (sent && isNeverSent(error) && this.#tried.length < settings.nextUpstreamTries && pool.hasUntried(this.#tried)) {
      this.#ctx.logger.warn({ upstream: upstream?.url, code: errorCode(error) }, 'upgrade handshake never reached the upstream: trying another');
      this.#admit();
      return;
    }
    this.#ctx.logger.warn({ upstream: upstream?.url, code: errorCode(error) }, 'upgrade handshake failed');
    this.#answer(toUpstreamError(error, upstream?.url ?? 'none'));
  }

  /** The upstream answered the upgrade with an ordinary response (a 403, a 404, a 426): relayed as it is. */
  #relay(proxyRes: IncomingMessage): void {
    this.#disarm();
    const upstream = this.#holding;
    this.#release();
    if (upstream !== undefined) this.#parts.pool.reportSuccess(upstream, performance.now() - this.#sentAt);
    proxyRes.on('error', () => this.#ctx.response.destroy());
    if (this.#done) {
      proxyRes.destroy();
      return;
    }
    this.#done = true;
    this.#stopReading();
    const res = this.#ctx.response;
    res.once('close', () => proxyRes.destroy());
    // The connection stage's `Connection: close` stays: node's parser has let go of this socket.
    res.writeHead(proxyRes.statusCode ?? 502, buildResponseHeaders(proxyRes.rawHeaders, this.#ctx.requestId));
    proxyRes.pipe(res);
  }

  #switch(proxyRes: IncomingMessage, proxySocket: Socket, proxyHead: Buffer): void {
    // First of all (http-proxy#1468/#1439): a reset on this socket must never be unhandled.
    proxySocket.on('error', (error) => this.#ctx.logger.debug({ code: errorCode(error) }, 'upstream socket of an upgraded connection failed'));
    this.#disarm();
    const upstream = this.#holding;
    // Held for the handshake only: a tunnel lasting hours must not keep a request from a slot.
    this.#release();
    if (this.#done || this.#client.destroyed) {
      proxySocket.destroy();
      return;
    }
    if (!switchesToWebSocket(proxyRes)) {
      proxySocket.destroy();
      if (upstream !== undefined) this.#parts.pool.reportFailure(upstream, 'BAD_UPGRADE');
      this.#ctx.logger.warn({ upstream: upstream?.url, upgrade: proxyRes.headers.upgrade }, 'upstream switched to something other than websocket');
      this.#answer(toUpstreamError(Object.assign(new Error('101 without Upgrade: websocket'), { code: 'BAD_UPGRADE' }), upstream?.url ?? 'none'));
      return;
    }
    if (upstream !== undefined) this.#parts.pool.reportSuccess(upstream, performance.now() - this.#sentAt);
    this.#done = true;
    const early = this.#stopReading();
    const res = this.#ctx.response;
    res.removeHeader('Connection');
    res.writeHead(101, [...buildResponseHeaders(proxyRes.rawHeaders, this.#ctx.requestId), ...UPGRADE_FIELDS]);
    res.end();
    // In order: the 101, then what the upstream sent right behind it; the client's early bytes, then the rest of its socket.
    if (proxyHead.length > 0) this.#client.write(proxyHead);
    if (this.#head.length > 0) proxySocket.write(this.#head);
    for (const chunk of early) proxySocket.write(chunk);
    splice(this.#client, proxySocket);
  }

  /** The client left before its answer: cut the upstream request, give the slot or the queue place back. */
  #onClientGone(): void {
    if (this.#done) return;
    this.#done = true;
    this.#disarm();
    this.#cancelWait?.();
    this.#cancelWait = undefined;
    this.#proxyReq?.destroy();
    this.#release();
  }

  /** The handshake is decided: stop holding early bytes (paused, so none is lost before the splice reads on). */
  #stopReading(): Buffer[] {
    this.#client.pause();
    this.#client.off('data', this.#onEarly);
    this.#client.off('end', this.#onClientEnd);
    const early = this.#early.splice(0);
    this.#earlyBytes = 0;
    return early;
  }

  #answer(error: TwotierError): void {
    if (this.#done) return;
    this.#done = true;
    this.#stopReading();
    this.#disarm();
    sendError(this.#ctx.response, this.#ctx, error, { close: true });
  }
}

/** The proxy handler's `upgrade` (handler.ts): one exchange per handshake. */
export function createUpgradeForwarder(parts: UpgradeForwarderParts): UpgradeEntry {
  return (req: IncomingMessage, socket: Duplex, head: Buffer, ctx: UpgradeContext) => {
    ctx.servedBy = 'app';
    new UpgradeExchange(parts, req, socket as Socket, head, ctx).start();
  };
}
