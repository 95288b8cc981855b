/**
 * The progress line on stderr: scenario k/n, its phase, elapsed seconds, and the request
 * rate of the last second from autocannon's 'tick'. Redrawn in place on a terminal; one line
 * per event otherwise, so CI logs stay readable.
 */
import type { ScenarioResult } from './result-schema.js';

export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

export interface Progress {
  scenario(index: number, total: number, name: string): void;
  phase(text: string): void;
  tick(requestsPerSecond: number): void;
  done(row: ScenarioResult): void;
}

export function createProgress(stream: ProgressStream, now: () => number = Date.now): Progress {
  const tty = stream.isTTY === true;
  let label = '';
  let startedAt = now();
  const elapsed = (): string => `${((now() - startedAt) / 1000).toFixed(1)} s`;
  const show = (text: string): void => {
    const line = `${label} ${text} (${elapsed()})`;
    stream.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
  };
  return {
    scenario(index, total, name) {
      label = `[${index}/${total}] ${name}`;
      startedAt = now();
    },
    phase(text) {
      show(text);
    },
    tick(requestsPerSecond) {
      show(`measuring, ${Math.round(requestsPerSecond).toLocaleString('en-US')} req/s`);
    },
    done(row) {
      const outcome = row.status === 'ok'
        ? `${Math.round(row.rps).toLocaleString('en-US')} req/s, p99 ${row.latencyMs.p99} ms, peak ${row.peakRssMiB.toFixed(1)} MiB`
        : `${row.status}: ${row.reason ?? ''}`;
      const line = `${label} ${outcome} (${elapsed()})`;
      stream.write(tty ? `\r\x1b[2K${line}\n` : `${line}\n`);
    },
  };
}
