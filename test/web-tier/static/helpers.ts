/**
 * Test helpers for the static server: a throw-away copy of the fixtures (plus what git cannot
 * hold: symlinks, a `.git/` folder, a large file), a tiny http server on port 0 that builds a
 * RequestContext the way server.ts does and calls the handler, and raw/parsed clients.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, type Logger } from '../../../common/logger.js';
import { contextForTarget, type RequestContext, type RequestHandler } from '../../../web-tier/context.js';
import { STATIC_DEFAULTS } from '../../../web-tier/static/config.js';
import { createStaticHandler, type StaticOptions } from '../../../web-tier/static/handler.js';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'static');
export const LARGE_SIZE = 200 * 1024;

interface Tap {
  teardown(fn: () => unknown): void;
}

export interface FixtureRoot {
  /** The web root. */
  readonly root: string;
  /** Beside the root, never served: symlinks point here. */
  readonly outside: string;
  /** The 200 KiB file's bytes (streamed with the default limits). */
  readonly large: Buffer;
}

export function makeFixtureRoot(t: Tap): FixtureRoot {
  const base = mkdtempSync(join(tmpdir(), 'twotier-static-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const root = join(base, 'public');
  const outside = join(base, 'outside');
  cpSync(FIXTURES, root, { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.txt'), 'outside the root\n');
  mkdirSync(join(root, '.git'));
  writeFileSync(join(root, '.git', 'config'), '[core]\n');
  const large = Buffer.alloc(LARGE_SIZE);
  for (let index = 0; index < large.length; index += 1) large[index] = (index * 31 + (index >> 8)) & 0xff;
  writeFileSync(join(root, 'large.bin'), large);
  symlinkSync(join(outside, 'secret.txt'), join(root, 'escape.txt'));
  symlinkSync(outside, join(root, 'escape-dir'));
  symlinkSync(join(root, 'hello.txt'), join(root, 'inside-link.txt'));
  symlinkSync(join(root, '.env'), join(root, 'env-link'));
  return { root, outside, large };
}

export interface StartedStatic {
  readonly port: number;
  readonly handler: RequestHandler;
  readonly contexts: RequestContext[];
}

export async function startStatic(t: Tap, options: Partial<StaticOptions> & { root: string; logger?: Logger; now?: () => number }): Promise<StartedStatic> {
  const logger = options.logger ?? createLogger({ tier: 'web', level: 'silent' });
  const handler = createStaticHandler({ ...STATIC_DEFAULTS, ...options, logger });
  const contexts: RequestContext[] = [];
  let counter = 0;
  const server: Server = createServer((req, res) => {
    counter += 1;
    const ctx = contextForTarget(req.url ?? '/', logger, `req-${counter}`);
    contexts.push(ctx);
    handler.handle(req, res, ctx);
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await handler.close();
  });
  return { port: (server.address() as AddressInfo).port, handler, contexts };
}

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export function get(port: number, path: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends bytes exactly as given (clients normalise paths; this does not) and reads to EOF. */
export function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error('raw request timed out')));
    socket.write(text, 'latin1');
  });
}

/** A one-request raw GET with Connection: close. */
export function rawGet(port: number, target: string): Promise<string> {
  return raw(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
}

export function statusOf(response: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
}
