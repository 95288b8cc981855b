/**
 * Starts the web tier's server core on 127.0.0.1:0 for a test, with a log sink the test can
 * parse and small fake handlers that stand in for static/proxy/cgi where a test is about the
 * server itself. Everything is torn down in t.teardown.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../../common/logger.js';
import { loadConfig, type WebConfig } from '../../web-tier/config.js';
import type { RequestContext, RequestHandler, ServedBy } from '../../web-tier/context.js';
import type { OnReloadRequest } from '../../web-tier/reload-endpoint.js';
import { createWebServer, type WebHandlers, type WebServer } from '../../web-tier/server.js';
import { followChild, type FollowedChild, type JsonLine } from './child-lines.js';

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
      // Like the real ones: proxy, cgi and embedded label their answers; static relies on the server.
      if (servedBy !== 'static') res.setHeader('X-Served-By', servedBy);
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
  /** Applied over the loaded config, section by section: `{ limits: { maxBodyBytes: 10 } }`. */
  readonly config?: ConfigOverrides;
  readonly handlers?: Partial<WebHandlers>;
  readonly onReloadRequest?: OnReloadRequest;
}

/** Some settings of some sections, for a test. */
export type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { readonly [Key in keyof T]?: DeepPartial<T[Key]> } : T;
export type ConfigOverrides = DeepPartial<WebConfig>;

/** The config with the given settings replaced, group by group (the rest of each section and group kept). */
export function withOverrides<T>(config: T, overrides: DeepPartial<NoInfer<T>>): T {
  const isGroup = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
  const merged: Record<string, unknown> = { ...(config as Record<string, unknown>) };
  for (const [key, value] of Object.entries(overrides as Record<string, unknown>)) {
    const before = merged[key];
    merged[key] = isGroup(value) && isGroup(before) ? withOverrides(before, value) : value;
  }
  return Object.freeze(merged) as T;
}

export async function startWeb(t: Teardown, options: StartWebOptions = {}): Promise<StartedWeb> {
  const config = withOverrides(loadConfig(undefined, { ...options.env, WEB_PORT: '0', WEB_HOST: '127.0.0.1' }), options.config ?? {});
  const log = createLogSink();
  const logger = createLogger({ tier: 'web', level: 'info', destination: log.stream });
  const web = createWebServer({
    config,
    logger,
    ...(options.handlers === undefined ? {} : { handlers: options.handlers }),
    ...(options.onReloadRequest === undefined ? {} : { onReloadRequest: options.onReloadRequest }),
  });
  const address = await web.listen();
  t.teardown(() => web.close());
  return { web, port: address.port, origin: `http://127.0.0.1:${address.port}`, config, log };
}

/** All three handlers faked: a test about the server core alone. */
export function fakeHandlers(): { static: FakeHandler; app: FakeHandler; cgi: FakeHandler } {
  return { static: createFakeHandler('static'), app: createFakeHandler('app', { healthy: () => true }), cgi: createFakeHandler('cgi') };
}

export const WEB_MAIN = fileURLToPath(new URL('../../dist/web-tier/main.js', import.meta.url));
export const START_MAIN = fileURLToPath(new URL('../../dist/deploy/start.mjs', import.meta.url));

export type { JsonLine };
/** A built entry point, spawned: its lines and stderr (test/helpers/child-lines.ts). */
export type SpawnedEntry = FollowedChild;

/** Environment for a child: nothing of ours (ports, levels, tap's own variables) leaks in. */
export function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(APP_|WEB_|DATABASE_URL$|LOG_LEVEL$|NODE_OPTIONS$|TAP)/.test(name)) env[name] = value;
  }
  return { ...env, ...extra };
}

/**
 * Spawns a built entry point (node dist/…), collects its stdout JSON lines and stderr, and
 * kills it (and any pid its lines named) in teardown.
 */
export function spawnEntry(t: Teardown, script: string, env: Record<string, string>, args: readonly string[] = [], options: { detached?: boolean } = {}): SpawnedEntry {
  if (!existsSync(script)) throw new Error(`${script} is missing: run \`npx tsc -p tsconfig.build.json\` first`);
  const child = spawn(process.execPath, [script, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: options.detached === true });
  const entry = followChild(child);
  t.teardown(async () => {
    const pids = new Set<number>();
    for (const line of entry.lines) {
      if (typeof line['pid'] === 'number') pids.add(line['pid']);
      for (const key of ['web', 'app']) {
        const pid = (line[key] as { pid?: unknown } | undefined)?.pid;
        if (typeof pid === 'number') pids.add(pid);
      }
    }
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await entry.exited;
    }
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone: the usual case.
      }
    }
  });
  return entry;
}

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
