/**
 * Test helpers for the CGI gateway: a temp CGI directory with scripts written per test, a tiny
 * http server on port 0 that builds a RequestContext and calls the handler (what server.ts will
 * do), a log sink whose parsed lines can be awaited, and a plain http.request client.
 */
import { EventEmitter } from 'node:events';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Agent, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Test } from 'tap';
import { createLogger } from '../../../common/logger.js';
import { contextForTarget, type RequestHandler } from '../../../web-tier/context.js';
import { CGI_DEFAULTS } from '../../../web-tier/cgi/config.js';
import { createCgiHandler, type CgiOptions } from '../../../web-tier/cgi/handler.js';
import { LIMITS_DEFAULTS } from '../../../web-tier/limits-config.js';

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly reqId?: string;
  readonly [key: string]: unknown;
}

export class LogSink extends Writable {
  readonly lines: LogLine[] = [];
  private readonly events = new EventEmitter();
  private partial = '';

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    const parts = (this.partial + chunk.toString('utf8')).split('\n');
    this.partial = parts.pop() ?? '';
    for (const part of parts) {
      if (part === '') continue;
      const line = JSON.parse(part) as LogLine;
      this.lines.push(line);
      this.events.emit('line', line);
    }
    callback();
  }

  /** Resolves with the first line (already logged or still to come) that matches; rejects after ms. */
  waitFor(predicate: (line: LogLine) => boolean, ms = 5000): Promise<LogLine> {
    const found = this.lines.find(predicate);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.events.off('line', onLine);
        reject(new Error('log line not seen in time'));
      }, ms);
      const onLine = (line: LogLine): void => {
        if (!predicate(line)) return;
        clearTimeout(timer);
        this.events.off('line', onLine);
        resolve(line);
      };
      this.events.on('line', onLine);
    });
  }
}

/** A fresh CGI directory in tmp, removed at teardown. */
export function makeCgiDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-cgi-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function writeScript(dir: string, name: string, text: string, mode = 0o755): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  chmodSync(file, mode);
  return file;
}

export interface CgiServer {
  readonly base: string;
  readonly port: number;
  readonly sink: LogSink;
  readonly handler: RequestHandler;
}

export async function startCgiServer(t: Test, given: Partial<CgiOptions> & { cgiDir: string }): Promise<CgiServer> {
  // `cgiDir` names the test's script folder; the gateway's option is the section's `dir`.
  const { cgiDir, ...options } = given;
  const sink = new LogSink();
  const logger = createLogger({ tier: 'web', level: 'debug', destination: sink });
  const handler = createCgiHandler({ ...CGI_DEFAULTS, maxBodyBytes: LIMITS_DEFAULTS.maxBodyBytes, serverSoftware: 'twotier', passEnv: {}, documentRoot: '/srv/www', dir: cgiDir, ...options, logger });
  const server = createServer((req, res) => {
    handler.handle(req, res, contextForTarget(req.url ?? '/', logger));
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  t.teardown(async () => {
    await handler.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, port, sink, handler };
}

export interface Reply {
  readonly status: number;
  readonly statusMessage: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export function send(base: string, path: string, options: { method?: string; headers?: OutgoingHttpHeaders; body?: string | Buffer; chunked?: boolean; agent?: Agent } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method: options.method ?? 'GET', headers: options.headers ?? {}, agent: options.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.body === undefined) {
      req.end();
    } else if (options.chunked === true) {
      req.write(options.body);
      req.end();
    } else {
      req.setHeader('Content-Length', Buffer.byteLength(options.body));
      req.end(options.body);
    }
  });
}

/** `env` output (NAME=value per line) → object. */
export function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}

/** True when the process is gone or a zombie (it runs nothing any more). */
export function isDead(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return true;
  }
  // /proc/PID/stat is "pid (comm) S …": the state letter follows the last ')'.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state === 'Z' || state === 'X';
}

/**
 * A killed process closes its file descriptors before /proc shows it as a zombie, so "its
 * pipes closed" can be seen a moment before "it is dead". No event tells a grandchild's death:
 * poll /proc, bounded (2 s), and report what was last seen.
 */
export async function becomesDead(pid: number, timeoutMs = 2_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!isDead(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}
