/**
 * The web tier's response class (http.createServer's `ServerResponse` option). What every
 * response needs beyond node's — the X-Served-By / X-Request-Id stamps, `Connection: close`
 * while draining, a count of body bytes for the access log, one callback when it is over —
 * lives on the prototype, so a request costs no closures and no patched methods (issue 8:
 * the per-request wrappers this replaces were a tenth of a static request's CPU).
 */
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { RequestContext, ServedBy } from './context.js';

/** What the server shares with all its responses. */
export interface ResponseSite {
  /** While true, every response head says `Connection: close` (RFC 9112 §9.6). */
  readonly draining: boolean;
  /** Called once per tracked response, when it closes (finished, or cut before it finished). */
  finished(res: WebResponse): void;
}

function chunkLength(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

interface ListScan {
  servedBy: unknown;
  requestId: boolean;
  connection: boolean;
}

/**
 * What a flat [name, value, …] header list already says of the stamps, in one pass that
 * lower-cases only names that could be one of them (a static head has eight fields).
 */
function scanList(list: readonly unknown[]): ListScan {
  const found: ListScan = { servedBy: undefined, requestId: false, connection: false };
  for (let index = 0; index < list.length; index += 2) {
    const name = list[index];
    if (typeof name !== 'string') continue;
    const first = name.charCodeAt(0) | 0x20;
    if (first === 0x78 /* x */ && name.length === 11 && name.toLowerCase() === 'x-served-by') found.servedBy = list[index + 1];
    else if (first === 0x78 && name.length === 12 && name.toLowerCase() === 'x-request-id') found.requestId = true;
    else if (first === 0x63 /* c */ && name.length === 10 && name.toLowerCase() === 'connection') found.connection = true;
  }
  return found;
}

function mergeList(res: ServerResponse, list: readonly unknown[]): void {
  const seen = new Set<string>();
  for (let index = 0; index < list.length; index += 2) {
    const name = list[index] as string;
    const value = list[index + 1] as string | number | readonly string[];
    const lower = name.toLowerCase();
    if (seen.has(lower)) res.appendHeader(name, value as string | readonly string[]);
    else res.setHeader(name, value);
    seen.add(lower);
  }
}

/** The value a header object gives `lowerName` (any case), or undefined. */
function recordValue(headers: Record<string, unknown>, lowerName: string): unknown {
  for (const name of Object.keys(headers)) {
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) return headers[name];
  }
  return undefined;
}

const SERVED_BY: ReadonlySet<string> = new Set<ServedBy>(['web', 'static', 'app', 'cgi', 'embedded']);

function onClose(this: WebResponse): void {
  // Once per response: a queued response closed by onSocketClose could hear a second 'close'.
  if (this.accounted) return;
  this.accounted = true;
  this.site?.finished(this);
}

/**
 * Responses node holds back behind the one on the wire (pipelining), per connection. Node
 * closes the response it is writing when the connection goes, but never the queued ones: no
 * 'close', so no access line, an in-flight gauge that never comes down, and handlers (the
 * proxy's upstream request, a CGI child, a file stream) that never learn the client left.
 */
const queuedBySocket = new WeakMap<Socket, Set<WebResponse>>();

function onSocketClose(this: Socket): void {
  const queued = queuedBySocket.get(this);
  queuedBySocket.delete(this);
  if (queued === undefined) return;
  for (const res of queued) {
    // Attached since: node closes it itself (its own 'close' listener on the socket).
    if (res.socket !== null || res.accounted) continue;
    // What node's own close does for the response on the wire: destroyed, then 'close'.
    res.destroyed = true;
    res.emit('close');
  }
}

/**
 * The responses a connection still owes, in request order: the one node is writing and those
 * queued behind it (parser-errors.ts answers a later parse error only after them).
 */
export function responsesOwed(socket: Socket): ServerResponse[] {
  const owed: ServerResponse[] = [];
  const current = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (current !== null && current !== undefined) owed.push(current);
  for (const res of queuedBySocket.get(socket) ?? []) if (res.socket === null && !res.accounted) owed.push(res);
  return owed;
}

function onQueuedClose(this: WebResponse): void {
  const socket = this.req.socket as Socket | null;
  if (socket !== null) queuedBySocket.get(socket)?.delete(this);
}

export class WebResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {
  /** Set by `track`; responses the server never tracked (none today) get no stamps. */
  ctx: RequestContext | undefined = undefined;
  site: ResponseSite | undefined = undefined;
  /** Body bytes handed to write/end (headers not counted; pipelined neighbours kept apart). */
  bodyBytes = 0;
  /** The request-target as received, for the access line (handlers may rewrite req.url). */
  accessUrl = '';
  /** Reported to the site already (once per response). */
  accounted = false;

  track(ctx: RequestContext, site: ResponseSite, accessUrl: string): void {
    this.ctx = ctx;
    this.site = site;
    this.accessUrl = accessUrl;
    // 'close' follows 'finish' on every response, and comes alone when the connection is cut first.
    this.on('close', onClose);
    // Not on the wire yet: a pipelined request behind another. Closed by onSocketClose if the
    // connection goes before node gets to it (a request not pipelined costs nothing here).
    const socket = this.req.socket as Socket | null;
    if (this.socket === null && socket !== null) {
      let queued = queuedBySocket.get(socket);
      if (queued === undefined) {
        queued = new Set();
        queuedBySocket.set(socket, queued);
        socket.once('close', onSocketClose);
      }
      queued.add(this);
      this.once('close', onQueuedClose);
    }
  }

  /**
   * Stamps the head, whoever writes it: the proxy labels the app's responses itself, so an
   * app-bound response written without a label is the web tier's own answer (a 502/503/504
   * page). `ctx.servedBy` is then set to the label that went out, so the access log and the
   * metrics say what the client was told. A flat header list (the static fast path) gets the
   * stamps appended, which keeps node on its quick path (no setHeader per field).
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- node's overloads
  override writeHead(statusCode: number, reason?: any, headers?: any): this {
    const ctx = this.ctx;
    if (ctx !== undefined && !this.headersSent) {
      let sent: unknown;
      const given: unknown = typeof reason === 'string' ? headers : reason;
      if (Array.isArray(given) && (given.length === 0 || typeof given[0] === 'string')) {
        const found = scanList(given);
        // Fields set before (setHeader) are rare on this path: look them up only when there are any.
        const preset = this.getHeaderNames().length > 0;
        sent = found.servedBy ?? (preset ? this.getHeader('x-served-by') : undefined);
        const stamps: unknown[] = [];
        if (sent === undefined) stamps.push('X-Served-By', (sent = ctx.servedBy === 'app' ? 'web' : ctx.servedBy));
        if (!found.requestId && !(preset && this.hasHeader('x-request-id'))) stamps.push('X-Request-Id', ctx.requestId);
        if (this.site?.draining === true && !found.connection) stamps.push('Connection', 'close');
        // A new list (the caller's may be a frozen, precomputed one); node only reads it.
        const list = stamps.length === 0 ? given : (given as unknown[]).concat(stamps);
        if (preset) {
          // Fields were set already: node would setHeader each pair, and a repeated field
          // (Set-Cookie) would keep only its last value. Merge here: the list wins, repeats append.
          mergeList(this, list);
          if (typeof reason === 'string') headers = undefined;
          else reason = undefined;
        } else if (typeof reason === 'string') headers = list;
        else reason = list;
      } else {
        sent = this.getHeader('x-served-by');
        if (sent === undefined && given !== null && typeof given === 'object') sent = recordValue(given as Record<string, unknown>, 'x-served-by');
        if (sent === undefined) this.setHeader('X-Served-By', (sent = ctx.servedBy === 'app' ? 'web' : ctx.servedBy));
        if (!this.hasHeader('x-request-id')) this.setHeader('X-Request-Id', ctx.requestId);
        if (this.site?.draining === true) this.setHeader('Connection', 'close');
      }
      if (typeof sent === 'string' && SERVED_BY.has(sent)) ctx.servedBy = sent as ServedBy;
    }
    return (ServerResponse.prototype.writeHead as (code: number, reason?: unknown, headers?: unknown) => this).call(this, statusCode, reason, headers);
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- node's overloads
  override write(chunk: any, ...rest: any[]): boolean {
    this.bodyBytes += chunkLength(chunk, rest[0]);
    return (ServerResponse.prototype.write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- node's overloads
  override end(...args: any[]): this {
    this.bodyBytes += chunkLength(args[0], args[1]);
    return (ServerResponse.prototype.end as (...rest: unknown[]) => this).apply(this, args);
  }
}
