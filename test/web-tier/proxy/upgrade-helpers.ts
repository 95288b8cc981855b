/**
 * Test scaffolding for WebSocket upgrades through the web tier (issue 16): a `ws` echo server
 * as the upstream, hostile raw-socket upstreams, a web tier in front of one, and clients that
 * report how a handshake ended. Everything on port 0 at 127.0.0.1, torn down by the test.
 */
import http, { type IncomingMessage } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import WebSocket, { WebSocketServer } from 'ws';
import { startWeb, type StartedWeb, type StartWebOptions, type Teardown } from '../../helpers/web-tier.js';

export interface WsUpstream {
  readonly url: string;
  readonly wss: WebSocketServer;
  /** The handshake requests the upstream accepted, in order. */
  readonly handshakes: IncomingMessage[];
}

/** A `ws` echo server: every message comes back as it was sent. */
export async function startWsUpstream(t: Teardown): Promise<WsUpstream> {
  const server = http.createServer((_req, res) => {
    res.writeHead(404).end();
  });
  const wss = new WebSocketServer({ server });
  const handshakes: IncomingMessage[] = [];
  wss.on('connection', (socket, req) => {
    handshakes.push(req);
    socket.on('message', (data, binary) => socket.send(data, { binary }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    for (const client of wss.clients) client.terminate();
    wss.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, wss, handshakes };
}

/** A raw TCP upstream: the test's own function gets each socket (a hostile app tier). */
export async function startRawUpstream(t: Teardown, onSocket: (socket: net.Socket) => void): Promise<{ url: string; sockets: net.Socket[] }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    onSocket(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sockets };
}

/** Reads a socket until a whole HTTP head has arrived; resolves with it and whatever came after it. */
export function readHead(socket: net.Socket): Promise<{ head: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      resolve({ head: buffered.subarray(0, end).toString('latin1'), rest: buffered.subarray(end + 4) });
    };
    const onClose = (): void => reject(new Error(`closed before a whole head: ${JSON.stringify(buffered.toString('latin1'))}`));
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

/** The 101 a WebSocket server sends for a head (RFC 6455 §4.2.2): Sec-WebSocket-Accept from the key. */
export async function switchingProtocols(head: string): Promise<string> {
  const { createHash } = await import('node:crypto');
  const key = /^sec-websocket-key:\s*(\S+)/im.exec(head)?.[1] ?? '';
  const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`;
}

/** The web tier in proxy mode in front of `upstream` (no active checks: the stubs answer no /readyz). */
export function startWebFor(t: Teardown, upstream: string, options: StartWebOptions = {}): Promise<StartedWeb> {
  return startWeb(t, { ...options, env: { APP_UPSTREAMS: upstream, WEB_PROXY_HEALTH_INTERVAL_MS: '0', ...options.env } });
}

export type Handshake =
  | { readonly kind: 'open'; readonly socket: WebSocket; readonly headers: http.IncomingHttpHeaders }
  | { readonly kind: 'refused'; readonly status: number; readonly headers: http.IncomingHttpHeaders; readonly body: string }
  | { readonly kind: 'error'; readonly error: Error };

/** A `ws` client's handshake through the web tier, however it ends (bounded by ws's handshakeTimeout). */
export function connect(t: Teardown, port: number, path = '/api/live', options: WebSocket.ClientOptions = {}): Promise<Handshake> {
  return new Promise((resolve) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}${path}`, { handshakeTimeout: 10_000, ...options });
    t.teardown(() => socket.terminate());
    socket.once('upgrade', (res: IncomingMessage) => {
      socket.once('open', () => resolve({ kind: 'open', socket, headers: res.headers }));
    });
    socket.once('unexpected-response', (_req, res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ kind: 'refused', status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (error) => resolve({ kind: 'error', error }));
    });
    socket.once('error', (error) => resolve({ kind: 'error', error }));
  });
}

/** Sends one message and resolves with the next one received. */
export async function roundTrip(socket: WebSocket, message: string): Promise<string> {
  const reply = once(socket, 'message');
  socket.send(message);
  const [data] = (await reply) as [Buffer];
  return data.toString('utf8');
}

/** Resolves when the socket has closed, with the close code `ws` reports (1006: no close frame, the TCP connection ended). */
export function closed(socket: WebSocket): Promise<number> {
  if (socket.readyState === WebSocket.CLOSED) return Promise.resolve(1006);
  return once(socket, 'close').then(([code]) => code as number);
}

/** A raw handshake: writes `request` (and `extra` in the same packet) and collects everything until the server closes. */
export async function rawUpgrade(port: number, request: string, timeoutMs = 10_000): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.write(request);
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  await once(socket, 'close');
  clearTimeout(timer);
  return Buffer.concat(chunks).toString('latin1');
}

/** A WebSocket handshake request head for `path`, with extra header lines. */
export function handshakeHead(path: string, extra: readonly string[] = [], upgrade = 'websocket'): string {
  return [`GET ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: Upgrade', `Upgrade: ${upgrade}`, 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', ...extra, '', ''].join('\r\n');
}
