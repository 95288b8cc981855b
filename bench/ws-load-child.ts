/**
 * Entry point of the WebSocket load generator process (issue 16), started by ws-load.ts:
 * - echo: N connections, each sending the next message when the answer to the previous one
 *   arrives (closed loop, like autocannon's pipelining 1), warm-up then the measured run;
 *   reports round trips, their latency percentiles (hrtime, sub-millisecond) and errors;
 * - idle: opens K connections (a bounded number of handshakes at once), reports how many it
 *   holds, and keeps them silent until the bench, having read the server's RSS, says close.
 */
import WebSocket from 'ws';
import { latencyPercentiles, WS_PING, type WsChildMessage, type WsLoadRequest } from './ws-load.js';

function send(message: WsChildMessage): void {
  process.send?.(message);
}

function connect(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 30_000 });
    socket.once('open', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
    // A non-101 answer: ws reports it as 'unexpected-response' and never opens.
    socket.once('unexpected-response', (_req, res) => {
      socket.terminate();
      reject(new Error(`handshake answered ${res.statusCode ?? '?'} instead of 101`));
    });
  });
}

const MAX_SAMPLES = 20_000_000;

async function echo(request: Extract<WsLoadRequest, { mode: 'echo' }>): Promise<void> {
  const sockets = await Promise.all(Array.from({ length: request.connections }, () => connect(request.url)));
  let measuring = false;
  let running = true;
  let roundTrips = 0;
  let bytes = 0;
  let errors = 0;
  let tickCount = 0;
  let samples = new Float64Array(1 << 16);
  const record = (ms: number, size: number): void => {
    if (roundTrips >= MAX_SAMPLES) return;
    if (roundTrips === samples.length) {
      const grown = new Float64Array(samples.length * 2);
      grown.set(samples);
      samples = grown;
    }
    samples[roundTrips] = ms;
    roundTrips += 1;
    tickCount += 1;
    bytes += size;
  };
  let inFlight = 0;
  let drained: () => void = () => undefined;
  for (const socket of sockets) {
    let sentAt = 0n;
    const next = (): void => {
      sentAt = process.hrtime.bigint();
      inFlight += 1;
      socket.send(WS_PING);
    };
    socket.on('message', (data: Buffer) => {
      inFlight -= 1;
      if (measuring) record(Number(process.hrtime.bigint() - sentAt) / 1e6, data.length);
      if (running) next();
      else if (inFlight === 0) drained();
    });
    socket.on('error', () => {
      if (measuring) errors += 1;
    });
    socket.on('close', () => {
      if (running && measuring) errors += 1;
    });
    next();
  }
  await new Promise((resolve) => setTimeout(resolve, request.warmupSec * 1000));
  measuring = true;
  send({ type: 'measuring' });
  const started = process.hrtime.bigint();
  const ticker = setInterval(() => {
    send({ type: 'tick', counter: tickCount });
    tickCount = 0;
  }, 1000);
  await new Promise((resolve) => setTimeout(resolve, request.durationSec * 1000));
  running = false;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  clearInterval(ticker);
  // Answers still on their way are counted (they were sent within the run) but nothing new is sent; bounded at 5 s.
  await new Promise<void>((resolve) => {
    drained = resolve;
    if (inFlight === 0) resolve();
    setTimeout(resolve, 5_000).unref();
  });
  measuring = false;
  for (const socket of sockets) socket.terminate();
  const latencyMs = latencyPercentiles(samples.subarray(0, roundTrips));
  send({ type: 'done', summary: { roundTrips, seconds, latencyMs, errors, bytesPerSec: seconds > 0 ? bytes / seconds : 0 } });
}

async function idle(request: Extract<WsLoadRequest, { mode: 'idle' }>): Promise<void> {
  const held: WebSocket[] = [];
  let failed = 0;
  let firstError: string | null = null;
  let next = 0;
  // A pool of `concurrency` openers, each taking the next index until all K were tried: bounded by K.
  const opener = async (): Promise<void> => {
    while (next < request.connections) {
      next += 1;
      try {
        const socket = await connect(request.url);
        socket.on('error', () => undefined);
        held.push(socket);
      } catch (error) {
        failed += 1;
        firstError ??= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(request.concurrency, request.connections)) }, opener));
  send({ type: 'open', held: held.length, failed, firstError });
  await new Promise<void>((resolve) => {
    process.on('message', (message: { type?: string }) => {
      if (message.type === 'close') resolve();
    });
    process.once('disconnect', () => resolve());
  });
  for (const socket of held) socket.terminate();
  send({ type: 'done' });
}

const request = JSON.parse(process.argv[2] ?? '{}') as WsLoadRequest;
(request.mode === 'echo' ? echo(request) : idle(request)).then(
  () => process.disconnect?.(),
  (error: unknown) => {
    send({ type: 'error', message: error instanceof Error ? error.message : String(error) });
    process.disconnect?.();
    process.exitCode = 1;
  },
);
