/**
 * Entry point of the load generator process: runs autocannon against one URL (warm-up, then
 * the measured run) and reports over IPC. It is a process of its own so that it can be pinned
 * to a core the servers do not use, and so that its own CPU time is never counted as theirs.
 */
import { createRequire } from 'node:module';
import type { LoadChildMessage, LoadRequest, LoadSummary } from './load-protocol.js';
import { runTlsResumeLoad, type TlsResumeSpec } from './tls-resume-load.js';

interface AutocannonResult {
  readonly latency: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number };
  readonly requests: { readonly total: number };
  readonly throughput: { readonly total: number };
  /** Seconds the run really lasted. */
  readonly duration: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
}

interface AutocannonInstance {
  on(event: 'tick', listener: (tick: { counter: number; bytes: number }) => void): void;
  on(event: 'done', listener: (result: AutocannonResult) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  stop(): void;
}

type Autocannon = (options: Record<string, unknown>) => AutocannonInstance;

// autocannon is CommonJS without type declarations: load it through require with the slice of
// its API used here typed above.
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

function send(message: LoadChildMessage): void {
  process.send?.(message);
}

/**
 * One autocannon run: for `durationSec`, or (amount set) until `amount` responses with
 * `durationSec` as a cap. autocannon ignores `duration` once `amount` is set, so the cap is a
 * timer calling stop(), which ends the run on its next 1 s sample with what was done so far.
 */
function run(request: LoadRequest, durationSec: number, amount: number | undefined, onTick: boolean): Promise<AutocannonResult> {
  return new Promise((resolve, reject) => {
    const instance = autocannon({
      url: request.url,
      method: request.method,
      connections: request.connections,
      pipelining: request.pipelining,
      ...(amount === undefined ? { duration: durationSec } : { amount }),
      headers: request.headers,
      ...(request.body === undefined ? {} : { body: request.body }),
    });
    const cap = amount === undefined ? undefined : setTimeout(() => instance.stop(), durationSec * 1000);
    if (onTick) {
      instance.on('tick', ({ counter, bytes }) => {
        // autocannon's last tick comes right after it reset its counters on stop: always 0.
        if (counter > 0) send({ type: 'tick', counter, bytes });
      });
    }
    instance.on('done', (result) => {
      clearTimeout(cap);
      resolve(result);
    });
    instance.on('error', (error) => {
      clearTimeout(cap);
      reject(error);
    });
  });
}

function summarise(result: AutocannonResult, amount: number | undefined): LoadSummary {
  // autocannon's requests.average is the mean of whole-second samples: a run shorter than a
  // second has none. Totals over the real duration are right for any length.
  const seconds = result.duration > 0 ? result.duration : 1;
  return {
    rps: result.requests.total / seconds,
    requests: result.requests.total,
    latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    bytesPerSec: result.throughput.total / seconds,
    seconds: result.duration,
    capped: amount !== undefined && result.requests.total < amount,
  };
}

/** A resumed-handshake row (tls-resume-load.ts): warm-up and measurement in one run, so the loops keep their sessions. */
async function runResumed(request: LoadRequest, spec: TlsResumeSpec): Promise<LoadSummary> {
  const result = await runTlsResumeLoad({
    ...spec, url: request.url, connections: request.connections, warmupSec: request.warmupSec, durationSec: request.durationSec,
    onMeasuring: () => send({ type: 'measuring' }),
    onTick: (counter) => send({ type: 'tick', counter, bytes: 0 }),
  });
  return {
    rps: result.connections / result.seconds, requests: result.connections, latencyMs: result.latencyMs, errors: result.errors, non2xx: result.non2xx,
    bytesPerSec: result.bytes / result.seconds, seconds: result.seconds, capped: false,
    tlsResumption: { connections: result.connections, resumed: result.resumed, clientCpuShare: result.clientCpuShare },
  };
}

async function main(): Promise<void> {
  const request = JSON.parse(process.argv[2] ?? '{}') as LoadRequest;
  if (request.tlsResume !== undefined) {
    send({ type: 'done', summary: await runResumed(request, request.tlsResume) });
    return;
  }
  // A run by count warms up by count too: one request per connection (autocannon needs
  // amount ≥ connections), capped at the warm-up time.
  const warmupAmount = request.amount === undefined ? undefined : request.connections;
  if (request.warmupSec > 0) await run(request, request.warmupSec, warmupAmount, false);
  send({ type: 'measuring' });
  const result = await run(request, request.durationSec, request.amount, true);
  send({ type: 'done', summary: summarise(result, request.amount) });
}

main().then(
  () => process.disconnect?.(),
  (error: unknown) => {
    send({ type: 'error', message: error instanceof Error ? error.message : String(error) });
    process.exitCode = 1;
    process.disconnect?.();
  },
);
