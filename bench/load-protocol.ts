/** Messages between the bench and its load generator process (load-child.ts). */
import type { LatencyMs } from './result-schema.js';
import type { TlsResumeSpec } from './tls-resume-load.js';

export interface LoadRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly connections: number;
  readonly pipelining: number;
  /** Measured seconds; with `amount`, the time cap of the measured run. */
  readonly durationSec: number;
  readonly warmupSec: number;
  /**
   * Run by count: the measured run ends after this many responses, or at `durationSec`,
   * whichever comes first (the CGI rows: a slow row still gets numbers, a fast one ends early).
   */
  readonly amount?: number;
  /**
   * A resumed-handshake row: bench/tls-resume-load.ts instead of autocannon, one new TLS connection per
   * request offering the previous connection's session (autocannon never resumes one).
   */
  readonly tlsResume?: TlsResumeSpec;
}

export interface LoadSummary {
  readonly rps: number;
  readonly requests: number;
  readonly latencyMs: LatencyMs;
  readonly errors: number;
  readonly non2xx: number;
  readonly bytesPerSec: number;
  /** Seconds the measured run really lasted. */
  readonly seconds: number;
  /** A run by count that the time cap ended before it reached `amount`. */
  readonly capped: boolean;
  /** Resumed-handshake rows: connections measured, how many resumed, the load generator's CPU share. */
  readonly tlsResumption?: { readonly connections: number; readonly resumed: number; readonly clientCpuShare: number };
}

export type LoadChildMessage =
  | { readonly type: 'measuring' }
  | { readonly type: 'tick'; readonly counter: number; readonly bytes: number }
  | { readonly type: 'done'; readonly summary: LoadSummary }
  | { readonly type: 'error'; readonly message: string };
