import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../common/logger.js';

/** Which part of the deployment answered a request: the access log and `X-Served-By` say it. */
export type ServedBy = 'web' | 'static' | 'app' | 'cgi' | 'embedded';

/**
 * What the web tier knows about one request once `server.ts` has accepted it. Created once
 * per request; handlers fill in `servedBy` and `upstream` so the access log line can say who
 * answered.
 */
export interface RequestContext {
  readonly requestId: string;
  /** process.hrtime.bigint() when the request was accepted. */
  readonly startedAt: bigint;
  /** A child of the tier's logger with `reqId` bound. */
  readonly logger: Logger;
  /** The request-target's path, still percent-encoded, already checked by classify.ts. */
  readonly pathname: string;
  /** The query string including its "?", or "" when there is none. */
  readonly search: string;
  servedBy: ServedBy;
  /** The upstream base URL that answered, for proxied requests. */
  upstream?: string;
  /** metrics.ts's bookkeeping, so each request is counted in and out once. */
  metricsStarted?: boolean;
  metricsEnded?: boolean;
}

/**
 * What an upgrade handler gets beyond a request's context: a response bound to the client's
 * socket, for answering the handshake as HTTP (an error page, an upstream's refusal relayed, the
 * 101 itself). Its head is stamped and logged like any response; after a non-101 answer the
 * connection closes (node's parser has let go of the socket: pipeline/handle-upgrade.ts).
 */
export interface UpgradeContext extends RequestContext {
  readonly response: ServerResponse;
}

/**
 * Takes an `Upgrade: websocket` request (RFC 9110 §7.8, RFC 6455 §4) that node has handed over
 * with its socket and the bytes read past the head (`head`). The handler owns the socket from
 * here: it answers through `ctx.response` or writes the handshake itself, and must end the
 * socket on every failure. Never throws.
 */
export type UpgradeEntry = (req: IncomingMessage, socket: Duplex, head: Buffer, ctx: UpgradeContext) => void;

/** One handler per kind of request (static, proxy, cgi, embedded); `server.ts` picks exactly one. */
export interface RequestHandler {
  handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void;
  close(): Promise<void>;
  /**
   * Shutdown has begun: end what this handler itself holds open with no end of its own (the
   * embedded app's WebSockets and event streams), so they do not sit out the whole drain grace.
   * close() follows once in-flight requests are done. Absent: nothing to end early.
   */
  drain?(): void;
  /** WebSocket upgrades on this handler's paths; absent: it takes none (the upgrade pipeline answers 400/501). */
  readonly upgrade?: UpgradeEntry | undefined;
}

/**
 * The server's RequestContext. The request's child logger is made on first use: a request
 * that logs nothing but its access line (nearly all of them) never pays for one.
 */
export class WebRequestContext implements RequestContext {
  servedBy: ServedBy = 'web';
  upstream?: string;
  metricsStarted?: boolean;
  metricsEnded?: boolean;
  private child: Logger | undefined = undefined;

  constructor(
    readonly requestId: string,
    readonly startedAt: bigint,
    private readonly root: Logger,
    public pathname: string,
    public search: string,
  ) {}

  get logger(): Logger {
    this.child ??= this.root.child({ reqId: this.requestId });
    return this.child;
  }
}

/**
 * A context for a request-target taken as it came (no classify.ts): for harnesses that run one
 * handler without server.ts (the tests' stand-in servers, bench/proxy-compare).
 */
export function contextForTarget(target: string, logger: Logger, requestId: string = randomUUID()): WebRequestContext {
  const queryAt = target.indexOf('?');
  return new WebRequestContext(requestId, process.hrtime.bigint(), logger, queryAt === -1 ? target : target.slice(0, queryAt), queryAt === -1 ? '' : target.slice(queryAt));
}
