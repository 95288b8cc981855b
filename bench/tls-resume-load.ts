/**
 * A load generator for resumed TLS handshakes (issue 15's performance section). autocannon never
 * offers a session to resume, so its new-connection rows measure full handshakes only. Here each of
 * N loops opens one TLS connection after another, offers the session (the ticket) its previous
 * connection received in the 'session' event (RFC 8446 §4.6.1 NewSessionTicket for TLS 1.3,
 * RFC 5077 for TLS 1.2), sends one GET with `Connection: close` and reads the answer to the close.
 * It counts connections, the ones the server really resumed (`isSessionReused()`), statuses and
 * latency, and its own CPU time: one Node process on one core may be the limit, not the server.
 */
import { connect, createSecureContext, type SecureContext } from 'node:tls';
import type { LatencyMs } from './result-schema.js';

export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

/** What the bench passes to the load child for a resumed-handshake row (load-protocol.ts). */
export interface TlsResumeSpec {
  /** PEM of the CA the server's certificate must verify against. */
  readonly ca: string;
  /** SNI and the name verified in the certificate. */
  readonly servername: string;
  /** The highest version offered (default TLS 1.3): TLSv1.2 measures RFC 5077 ticket resumption. */
  readonly maxVersion?: TlsVersion;
}

export interface TlsResumeOptions extends TlsResumeSpec {
  /** https://host:port/path: one GET of `path` per connection. */
  readonly url: string;
  /** Loops running side by side, each one connection at a time. */
  readonly connections: number;
  /** Seconds run before measuring; the loops keep their sessions across the boundary. */
  readonly warmupSec: number;
  readonly durationSec: number;
  /** One connection's bound (connect to close). */
  readonly timeoutMs?: number;
  readonly onMeasuring?: () => void;
  /** Once a second: connections completed in that second. */
  readonly onTick?: (completed: number) => void;
}

export interface TlsResumeResult {
  /** Connections that completed with an HTTP answer while measuring. */
  readonly connections: number;
  /** Of those, the ones whose handshake resumed a session. */
  readonly resumed: number;
  readonly non2xx: number;
  /** Connections that failed (socket error, timeout, no status line). */
  readonly errors: number;
  readonly bytes: number;
  /** Seconds from the start of measuring until the last loop stopped. */
  readonly seconds: number;
  readonly latencyMs: LatencyMs;
  /** CPU seconds of this process while measuring ÷ seconds: near 1, the generator was the limit. */
  readonly clientCpuShare: number;
}

interface Outcome {
  readonly status: number | null;
  readonly reused: boolean;
  readonly bytes: number;
  readonly ms: number;
  /** The newest session the server handed out on this connection (TLS 1.3 servers may send several tickets). */
  readonly session: Buffer | undefined;
  readonly failed: boolean;
}

function oneConnection(target: URL, options: TlsResumeOptions, context: SecureContext, session: Buffer | undefined): Promise<Outcome> {
  return new Promise((resolve) => {
    const started = performance.now();
    let latest: Buffer | undefined;
    let reused = false;
    let head = '';
    let bytes = 0;
    let failed = false;
    const socket = connect({
      host: target.hostname,
      port: Number(target.port),
      servername: options.servername,
      // One client context for the run, built from the CA once: `ca` here would make tls.connect
      // parse the PEM and build a new context per connection, client CPU the server never sees.
      // The ClientHello and the certificate check are the same either way.
      secureContext: context,
      ...(session === undefined ? {} : { session }),
    });
    socket.on('session', (ticket: Buffer) => {
      latest = ticket;
    });
    socket.once('secureConnect', () => {
      reused = socket.isSessionReused();
      socket.write(`GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nConnection: close\r\n\r\n`);
    });
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (head.length < 12) head += chunk.toString('latin1', 0, 12);
    });
    socket.setTimeout(options.timeoutMs ?? 10_000, () => socket.destroy(new Error('timeout')));
    socket.once('error', () => {
      failed = true;
    });
    socket.once('close', () => {
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      resolve({ status: match === null ? null : Number(match[1]), reused, bytes, ms: performance.now() - started, session: latest, failed: failed || match === null });
    });
  });
}

function percentile(sorted: readonly number[], share: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(share * sorted.length) - 1)] as number;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

export async function runTlsResumeLoad(options: TlsResumeOptions): Promise<TlsResumeResult> {
  const target = new URL(options.url);
  if (target.protocol !== 'https:') throw new Error(`tls-resume load needs an https:// URL, got ${options.url}`);
  const context = createSecureContext({ ca: options.ca, minVersion: 'TLSv1.2', maxVersion: options.maxVersion ?? 'TLSv1.3' });
  const start = performance.now();
  const measureFrom = start + options.warmupSec * 1000;
  const deadline = measureFrom + options.durationSec * 1000;
  const latencies: number[] = [];
  let resumed = 0;
  let non2xx = 0;
  let errors = 0;
  let bytes = 0;
  let thisSecond = 0;
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  let ticker: NodeJS.Timeout | undefined;
  const startMeasuring = (): void => {
    cpuAtStart = process.cpuUsage();
    options.onMeasuring?.();
    ticker = setInterval(() => {
      options.onTick?.(thisSecond);
      thisSecond = 0;
    }, 1000);
  };
  const warmup = options.warmupSec > 0 ? setTimeout(startMeasuring, options.warmupSec * 1000) : undefined;
  if (warmup === undefined) startMeasuring();
  const loop = async (): Promise<void> => {
    let session: Buffer | undefined;
    // Bounded: every connection ends by its timeout, and no new one starts after the deadline.
    while (performance.now() < deadline) {
      const begun = performance.now();
      const outcome = await oneConnection(target, options, context, session);
      // A failed connection's ticket is not trusted: the next one starts over with a full handshake.
      session = outcome.failed ? undefined : (outcome.session ?? session);
      if (begun < measureFrom) continue;
      if (outcome.failed) {
        errors += 1;
        continue;
      }
      latencies.push(outcome.ms);
      bytes += outcome.bytes;
      thisSecond += 1;
      if (outcome.reused) resumed += 1;
      if (outcome.status === null || outcome.status < 200 || outcome.status > 299) non2xx += 1;
    }
  };
  try {
    await Promise.all(Array.from({ length: options.connections }, loop));
  } finally {
    clearTimeout(warmup);
    clearInterval(ticker);
  }
  const seconds = Math.max(0.001, (performance.now() - measureFrom) / 1000);
  const cpu = process.cpuUsage(cpuAtStart ?? process.cpuUsage());
  latencies.sort((a, b) => a - b);
  return {
    connections: latencies.length,
    resumed,
    non2xx,
    errors,
    bytes,
    seconds,
    latencyMs: { p50: round(percentile(latencies, 0.5)), p90: round(percentile(latencies, 0.9)), p99: round(percentile(latencies, 0.99)), max: round(latencies.at(-1) ?? 0) },
    clientCpuShare: Number(((cpu.user + cpu.system) / 1e6 / seconds).toFixed(2)),
  };
}

/** Below this share of resumed handshakes a row does not measure resumption and must not pass as if it did. */
export const MIN_RESUMED_SHARE = 0.9;

/**
 * The row's verdict: a note for its description when enough handshakes resumed, or the reason it
 * fails (with its figures, so the reader still sees them) when too few did.
 */
export function resumptionVerdict(result: Pick<TlsResumeResult, 'connections' | 'resumed' | 'clientCpuShare' | 'seconds'>): { ok: true; note: string } | { ok: false; reason: string } {
  const share = result.connections === 0 ? 0 : result.resumed / result.connections;
  const figures = `resumed ${result.resumed} of ${result.connections} handshakes (${(share * 100).toFixed(1)}%), ${(result.connections / result.seconds).toFixed(0)} conn/s, load generator CPU ${(result.clientCpuShare * 100).toFixed(0)}%`;
  if (share < MIN_RESUMED_SHARE) {
    return { ok: false, reason: `not a resumed-handshake figure: ${figures}, below ${MIN_RESUMED_SHARE * 100}%` };
  }
  return { ok: true, note: figures };
}
