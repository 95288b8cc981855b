/**
 * autocannon for tests: it is CommonJS without types, so the fields the tests read are declared
 * once here; a steady load that runs until stopped, and its one-line summary.
 */
import { createRequire } from 'node:module';

export interface AutocannonResult {
  requests: { total: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats: Record<string, { count: number }>;
}

export interface AutocannonInstance extends PromiseLike<AutocannonResult> {
  on(event: 'response', listener: () => void): void;
  stop(): void;
}

export const autocannon = createRequire(import.meta.url)('autocannon') as (options: Record<string, unknown>) => AutocannonInstance;

export interface SteadyLoadOptions {
  readonly connections?: number;
  /** Requests per second over all connections. */
  readonly overallRate?: number;
  /** The ceiling if stop() is never called. */
  readonly durationS?: number;
}

/** A small steady load (4 connections, 100 requests/s at most, unless told) until stop(), 10 minutes at most. */
export function steadyLoad(url: string, options: SteadyLoadOptions = {}): { stop(): Promise<AutocannonResult> } {
  const instance = autocannon({ url, connections: options.connections ?? 4, overallRate: options.overallRate ?? 100, duration: options.durationS ?? 600, timeout: 10 });
  let stopped: Promise<AutocannonResult> | undefined;
  return {
    stop() {
      if (stopped === undefined) {
        instance.stop();
        stopped = Promise.resolve(instance);
      }
      return stopped;
    },
  };
}

export const describeResult = (result: AutocannonResult): string =>
  `${result.requests.total} requests, ${Object.entries(result.statusCodeStats).map(([status, { count }]) => `${status}×${count}`).join(' ')}, ${result.errors} errors, ${result.timeouts} timeouts`;

/** Requests that got no answer, or not a 2xx one. */
export const failedOf = (result: AutocannonResult): number => result.errors + result.timeouts + result.non2xx;
