/** Builds AppRequest values and a ready app over the in-memory store, for app tests. */
import { Writable } from 'node:stream';
import type { Test } from 'tap';
import type { AppRequest, AppResponse } from '../../../common/app-interface.js';
import { bodyToBuffer } from '../../../common/app-interface.js';
import { createLogger } from '../../../common/logger.js';
import { createApp, type CreateAppOptions } from '../../../app-tier/app/create-app.js';
import type { ArticleInput } from '../../../app-tier/store/types.js';
import { createMemoryStore, type MemoryStore } from '../../helpers/memory-store.js';

export interface RequestInit {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Uint8Array;
  readonly requestId?: string;
}

export function appRequest(target: string, init: RequestInit = {}): AppRequest {
  const body = init.body === undefined ? new Uint8Array(0) : typeof init.body === 'string' ? Buffer.from(init.body) : init.body;
  return {
    method: init.method ?? 'GET',
    target,
    httpVersion: '1.1',
    headers: { host: 'app.test', ...init.headers },
    body,
    remoteAddress: '127.0.0.9',
    remotePort: 50000,
    localAddress: '127.0.0.1',
    localPort: 3000,
    requestId: init.requestId ?? 'req-test-1',
  };
}

export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | readonly string[]>;
  readonly text: string;
  /** Header lookup by lower-case name. */
  header(name: string): string | undefined;
  json(): any;
}

export async function answer(response: AppResponse): Promise<Answer> {
  const text = (await bodyToBuffer(response.body)).toString('utf8');
  const lower = new Map(Object.entries(response.headers).map(([name, value]) => [name.toLowerCase(), value]));
  return {
    status: response.status,
    headers: { ...response.headers },
    text,
    header(name) {
      const value = lower.get(name.toLowerCase());
      return value === undefined ? undefined : Array.isArray(value) ? value.join(', ') : (value as string);
    },
    json: () => JSON.parse(text),
  };
}

export interface Harness {
  readonly store: MemoryStore;
  /** Parsed log lines the app wrote. */
  readonly logs: Record<string, unknown>[];
  send(target: string, init?: RequestInit): Promise<Answer>;
}

export function harness(t: Test, options: Partial<Omit<CreateAppOptions, 'store' | 'logger'>> & { articles?: readonly ArticleInput[] } = {}): Harness {
  const { articles, ...appOptions } = options;
  const store = createMemoryStore(articles === undefined ? {} : { articles });
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const logger = createLogger({ tier: 'app', level: 'info', destination: sink });
  const app = createApp({ store, logger, ...appOptions });
  t.teardown(() => app.close());
  return {
    store,
    logs,
    send: async (target, init) => answer(await app.handle(appRequest(target, init))),
  };
}
