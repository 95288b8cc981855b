/**
 * Starts the web tier's server core on 127.0.0.1:0 for a test, with a log sink the test can
 * parse and small fake handlers that stand in for static/proxy/cgi where a test is about the
 * server itself. Everything is torn down in t.teardown.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { createLogger } from '../../common/logger.js';
import { loadConfig, type WebConfig } from '../../web-tier/config.js';
import type { RequestContext, RequestHandler, ServedBy } from '../../web-tier/context.js';
import { createWebServer, type WebHandlers, type WebServer } from '../../web-tier/server.js';

export interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface LogSink {
  readonly stream: Writable;
  /** Every line written so far, parsed. */
  lines(): Record<string, unknown>[];
  /** Access-log lines ("msg": "request"). */
  accessLines(): Record<string, unknown>[];
  /** Resolves once `count` access lines are in (they are written on 'finish', which may trail the client's read). */
  waitForAccessLines(count: number, timeoutMs?: number): Promise<Record<string, unknown>[]>;
}

export function createLogSink(): LogSink {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString('utf8');
      stream.emit('line');
      callback();
    },
  });
  const lines = (): Record<string, unknown>[] => text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>);
  const accessLines = (): Record<string, unknown>[] => lines().filter((line) => line['msg'] === 'request');
  const waitForAccessLines = (count: number, timeoutMs = 2_000): Promise<Record<string, unknown>[]> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (accessLines().length < count) return;
        clearTimeout(timer);
        stream.off('line', check);
        resolve(accessLines());
      };
      const timer = setTimeout(() => {
        stream.off('line', check);
        reject(new Error(`expected ${count} access lines, got ${accessLines().length}`));
      }, timeoutMs);
      stream.on('line', check);
      check();
    });
  return { stream, lines, accessLines, waitForAccessLines };
}

export interface FakeCall {
  readonly method: string;
  readonly url: string;
  readonly pathname: string;
  readonly search: string;
  readonly requestId: string;
  readonly host: string | undefined;
  readonly body: string;
}

export interface FakeHandler extends RequestHandler {
  readonly calls: FakeCall[];
  closed: boolean;
  hasHealthyUpstream?(): boolean;
}

/**
 * A handler that reads the whole body, then answers 200 text naming itself and the path. It
 * sets `servedBy` like the real handler it replaces would.
 */
export function createFakeHandler(servedBy: ServedBy, options: { healthy?: () => boolean; delayMs?: number } = {}): FakeHandler {
  const handler: FakeHandler = {
    calls: [],
    closed: false,
    handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void {
      ctx.servedBy = servedBy;
      if (servedBy === 'app') ctx.upstream = 'http://fake-upstream';
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        handler.calls.push({ method: req.method ?? '', url: req.url ?? '', pathname: ctx.pathname, search: ctx.search, requestId: ctx.requestId, host: req.headers.host, body });
        const text = `${servedBy} ${req.method ?? ''} ${ctx.pathname}${ctx.search} ${body.length}\n`;
        const answer = (): void => {
          res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
          res.end(req.method === 'HEAD' ? undefined : text);
        };
        if (options.delayMs === undefined) answer();
        else setTimeout(answer, options.delayMs);
      });
    },
    async close(): Promise<void> {
      handler.closed = true;
    },
  };
  if (options.healthy !== undefined) handler.hasHealthyUpstream = options.healthy;
  return handler;
}

export interface StartedWeb {
  readonly web: WebServer;
  readonly port: number;
  readonly origin: string;
  readonly config: WebConfig;
  readonly log: LogSink;
}

export interface StartWebOptions {
  /** Environment as main would read it (WEB_PORT is forced to 0). */
  readonly env?: Record<string, string>;
  /** Applied over the loaded config. */
  readonly config?: Partial<WebConfig>;
  readonly handlers?: Partial<WebHandlers>;
}

export async function startWeb(t: Teardown, options: StartWebOptions = {}): Promise<StartedWeb> {
  const config: WebConfig = Object.freeze({ ...loadConfig(undefined, { ...options.env, WEB_PORT: '0', WEB_HOST: '127.0.0.1' }), ...options.config });
  const log = createLogSink();
  const logger = createLogger({ tier: 'web', level: 'info', destination: log.stream });
  const web = createWebServer({ config, logger, ...(options.handlers === undefined ? {} : { handlers: options.handlers }) });
  const address = await web.listen();
  t.teardown(() => web.close());
  return { web, port: address.port, origin: `http://127.0.0.1:${address.port}`, config, log };
}

/** All three handlers faked: a test about the server core alone. */
export function fakeHandlers(): { static: FakeHandler; app: FakeHandler; cgi: FakeHandler } {
  return { static: createFakeHandler('static'), app: createFakeHandler('app', { healthy: () => true }), cgi: createFakeHandler('cgi') };
}
