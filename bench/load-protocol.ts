/** Messages between the bench and its load generator process (load-child.ts). */
import type { LatencyMs } from './result-schema.js';

export interface LoadRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly connections: number;
  readonly pipelining: number;
  readonly durationSec: number;
  readonly warmupSec: number;
}

export interface LoadSummary {
  readonly rps: number;
  readonly requests: number;
  readonly latencyMs: LatencyMs;
  readonly errors: number;
  readonly non2xx: number;
  readonly bytesPerSec: number;
}

export type LoadChildMessage =
  | { readonly type: 'measuring' }
  | { readonly type: 'tick'; readonly counter: number; readonly bytes: number }
  | { readonly type: 'done'; readonly summary: LoadSummary }
  | { readonly type: 'error'; readonly message: string };
