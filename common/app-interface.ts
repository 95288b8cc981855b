/**
 * The application interface: the project's WSGI.
 *
 * One plain request value in, one plain response value out. Every way of running the
 * application (persistent workers, CGI per request, embedded in the web tier) builds an
 * AppRequest from whatever it received, calls `app.handle()`, and writes the AppResponse
 * back. The application never sees node's IncomingMessage/ServerResponse, so the same
 * code runs unchanged under all three adapters.
 */
import type { Logger } from './logger.js';

/** Header fields in node's `req.headers` shape: lower-case names, repeated fields joined with ", ". */
export type AppHeaders = Readonly<Record<string, string>>;

export interface AppRequest {
  /** Request method as received, e.g. "GET". */
  readonly method: string;
  /** The request-target exactly as received (path and query, not decoded), e.g. "/api/echo?a=%20". */
  readonly target: string;
  /** HTTP version without the "HTTP/" prefix, e.g. "1.1". */
  readonly httpVersion: string;
  readonly headers: AppHeaders;
  /** The whole request body. Empty when there was none. */
  readonly body: Uint8Array;
  /** The peer that sent the request to this process (for a proxied request: the web tier). */
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The local address and port that received the request. */
  readonly localAddress: string;
  readonly localPort: number;
  /** Correlation id: the incoming X-Request-Id, or one the adapter generated. */
  readonly requestId: string;
}

/** Response header values; an array produces one field line per element (Set-Cookie). */
export type AppResponseHeaders = Record<string, string | readonly string[]>;

export type AppBody = Uint8Array | string | AsyncIterable<Uint8Array> | null;

export interface AppResponse {
  readonly status: number;
  readonly headers: AppResponseHeaders;
  /**
   * What goes on the wire after the header section, exactly. The application itself drops
   * the body for HEAD and for 204/304, so an adapter writes what it gets.
   */
  readonly body: AppBody;
}

/** What `AppWebSocket.receive()` yields: a message, or the end of the connection (RFC 6455 §7.1.5 close code). */
export type AppWebSocketEvent =
  | { readonly type: 'message'; readonly data: string | Uint8Array }
  | { readonly type: 'close'; readonly code: number; readonly reason: string };

/**
 * One WebSocket connection as the application sees it: ASGI's websocket scope. The handshake
 * request arrives first; the application accepts it (101) or rejects it with an ordinary HTTP
 * response, then receives and sends messages until either side closes. The adapter speaks the
 * protocol (framing, masking, ping/pong, close handshake); the application sees only messages.
 */
export interface AppWebSocket {
  /** Completes the handshake (101 Switching Protocols). `protocol`: the Sec-WebSocket-Protocol chosen (RFC 6455 §4.2.2). */
  accept(options?: { readonly protocol?: string; readonly headers?: Readonly<Record<string, string>> }): Promise<void>;
  /** Refuses the handshake with an HTTP response (a 403, a 404…); the connection then ends. Only before accept(). */
  reject(response: AppResponse): Promise<void>;
  /** The next message, or `close` once the connection has ended (then `close` again on every call). */
  receive(): Promise<AppWebSocketEvent>;
  /** Resolves once the message is handed to the socket; rejects when the connection is closed. */
  send(data: string | Uint8Array): Promise<void>;
  /** Starts the close handshake (RFC 6455 §7.4.1 codes; 1000 when absent). Before accept(): a 403, as ASGI does. */
  close(code?: number, reason?: string): void;
  /** Resolves with the close code and reason once the connection has ended, whoever ended it. */
  readonly closed: Promise<{ readonly code: number; readonly reason: string }>;
}

export interface Application {
  handle(request: AppRequest): Promise<AppResponse>;
  /**
   * The connection-oriented entry (ASGI's websocket scope), optional: called once per WebSocket
   * handshake (`request` has an empty body) by the adapters that hold connections (persistent
   * workers, embedded). A one-request/one-response adapter (CGI) cannot offer it: its process
   * ends with the response. Resolving without accept() or reject() refuses the handshake (403).
   */
  websocket?(request: AppRequest, socket: AppWebSocket): Promise<void>;
  /** Releases what the application holds (database handles). Idempotent. */
  close(): Promise<void>;
}

/** Which adapter runs the application: a cluster worker, the web tier's own process, or a CGI process per request. */
export type AppMode = 'persistent' | 'embedded' | 'cgi';

/**
 * What every mode hands `createApp` (WSGI's `environ` for start-up, not per request). Only plain
 * values and a pino logger, so an application written against it runs under all three adapters.
 */
export interface AppContext {
  /** A pino logger (a child of the tier's); per-request lines should carry `request.requestId`. */
  readonly logger: Logger;
  /**
   * The environment the operator gave the application: the tier's process environment for
   * persistent workers and embedded mode; under CGI, what the gateway hands `cgi-bin/app` (its own
   * config: DATABASE_URL, APP_TOKEN, APP_MODULE, the body bounds), never a request's fields.
   */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** DATABASE_URL as the tier resolved it (default `sqlite:./data/twotier.db`), the same in every mode. */
  readonly databaseUrl: string;
  readonly mode: AppMode;
}

/**
 * The contract of an APP_MODULE: its default export. Called once per process (once per request
 * under CGI); may return a promise. From plain JavaScript:
 * `/** @type {import('twotier').CreateApp} *\/ export default function createApp(context) { … }`.
 */
export type CreateApp = (context: AppContext) => Application | Promise<Application>;

/** Collects a body into one Buffer (used by adapters that need the whole response, e.g. CGI). */
export async function bodyToBuffer(body: AppBody): Promise<Buffer> {
  if (body === null) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/**
 * Joins raw header lines into node's `req.headers` shape. Used by adapters that do not get
 * node's parsed headers (CGI); node's own rules: duplicates joined with ", ", except
 * Set-Cookie (joined too here, since AppHeaders holds strings) and Cookie (joined with "; ").
 */
export function joinHeaderLines(lines: Iterable<readonly [string, string]>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [rawName, value] of lines) {
    const name = rawName.toLowerCase();
    const previous = headers[name];
    if (previous === undefined) headers[name] = value;
    else headers[name] = `${previous}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  return headers;
}
