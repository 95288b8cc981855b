/**
 * Test scaffolding for the proxy: a tiny front server that builds a RequestContext and calls
 * the handler (server.ts's job in the real tier), upstream stubs, and clients. Everything on
 * port 0 at 127.0.0.1, torn down by the test that started it.
 */
import http, { type IncomingHttpHeaders, type RequestListener } from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../../common/logger.js';
import { closeServer, listen, type Teardown } from '../../helpers/upstream.js';
import { contextForTarget, type RequestContext } from '../../../web-tier/context.js';
import { throwOnIllegalPhase } from '../../../web-tier/proxy/phase.js';
import { DEFAULTS } from '../../../web-tier/config.js';
import type { ProxyHandlerConfig } from '../../../web-tier/proxy/config.js';
import { createProxyHandler, type ProxyHandler } from '../../../web-tier/proxy/handler.js';
import { proxyOptions } from '../../../web-tier/server-handlers.js';
import { withOverrides, type DeepPartial } from '../../helpers/web-tier.js';

export { listen, startUpstream, type Teardown, type Upstream } from '../../helpers/upstream.js';

/** A base URL nobody listens on: a port that was bound, then closed (connect → ECONNREFUSED). */
export async function refusedUrl(): Promise<string> {
  const server = net.createServer();
  const port = await listen(server);
  await closeServer(server);
  return `http://127.0.0.1:${port}`;
}

type LogLine = Record<string, unknown>;

/** A sink logger whose lines the test can parse (pino's own tests do this). */
export function captureLogger(): { logger: Logger; lines: () => LogLine[]; next: (match: (line: LogLine) => boolean) => Promise<LogLine> } {
  const chunks: string[] = [];
  const waiting: { match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      const text = chunk.toString('utf8');
      chunks.push(text);
      for (const line of text.split('\n').filter((part) => part !== '').map((part) => JSON.parse(part) as LogLine)) {
        for (const waiter of [...waiting]) {
          if (!waiter.match(line)) continue;
          waiting.splice(waiting.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
      callback();
    },
  });
  const logger = createLogger({ tier: 'web', level: 'debug', destination });
  return {
    logger,
    lines: () => chunks.join('').split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as LogLine),
    /** The next line (from now on) that matches: a log line is the event the test waits for. */
    next: (match) => new Promise((resolve) => waiting.push({ match, resolve })),
  };
}

export interface Front {
  readonly port: number;
  readonly handler: ProxyHandler;
  readonly server: http.Server;
  /** The contexts the front built, in arrival order (to read servedBy/upstream). */
  readonly contexts: RequestContext[];
  /** TCP connections the front accepted so far. */
  connections(): number;
}

/** The front server: one RequestContext per request, then the proxy handler (server.ts's job). */
/** The proxy as the config builds it by default, with some settings replaced (group by group: `activeHealth: { intervalMs: 0 }`). */
export function proxyConfig(overrides: DeepPartial<ProxyHandlerConfig>): ProxyHandlerConfig {
  return withOverrides(proxyOptions(DEFAULTS), overrides);
}

export async function startFront(t: Teardown, options: DeepPartial<ProxyHandlerConfig> & { upstreams: readonly string[]; logger?: Logger }): Promise<Front> {
  const { logger: given, ...overrides } = options;
  // An exchange moved against phase.ts's table fails the test (a running tier only logs it).
  throwOnIllegalPhase(true);
  const logger = given ?? createLogger({ tier: 'web', level: 'silent' });
  const handler = createProxyHandler({ ...proxyConfig(overrides), logger });
  const contexts: RequestContext[] = [];
  const server = http.createServer((req, res) => {
    const ctx = contextForTarget(req.url ?? '/', logger);
    contexts.push(ctx);
    handler.handle(req, res, ctx);
  });
  let accepted = 0;
  server.on('connection', () => {
    accepted += 1;
  });
  const port = await listen(server);
  t.teardown(async () => {
    await closeServer(server);
    await handler.close();
  });
  return { port, handler, server, contexts, connections: () => accepted };
}

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface RequestOptions {
  method?: string;
  path?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: string | Buffer;
  agent?: http.Agent;
}

export async function request(port: number, options: RequestOptions = {}): Promise<Reply> {
  const req = http.request({
    host: '127.0.0.1',
    port,
    method: options.method ?? 'GET',
    path: options.path ?? '/api/echo',
    headers: options.headers ?? {},
    agent: options.agent ?? false,
  });
  req.end(options.body);
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') };
}

/** Sends raw bytes and collects everything until the server closes the connection. */
export async function rawExchange(port: number, bytes: string | Buffer): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  socket.write(bytes);
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('latin1');
}

/** An upstream handler that answers with what it received, as JSON. */
export const echo: RequestListener = (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks).toString('utf8') });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
};

export interface Echoed {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

export function echoed(reply: Reply): Echoed {
  return JSON.parse(reply.body) as Echoed;
}
