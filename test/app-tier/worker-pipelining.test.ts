/**
 * The app tier accounts for every request too: node never closes the responses it queued
 * behind the one on the wire (pipelining) when the connection goes, so their 'close' (the
 * access line, the in-flight gauge) never came.
 */
import t from 'tap';
import { connect } from 'node:net';
import { PassThrough } from 'node:stream';
import { createLogger } from '../../common/logger.js';
import type { Application } from '../../common/app-interface.js';
import { createWorkerServer } from '../../app-tier/worker.js';
import { DEFAULTS } from '../../app-tier/config.js';
import type { WorkerMetrics } from '../../app-tier/metrics.js';

t.test('pipelined requests, then the client leaves: each one logged, the in-flight count back to 0', async (t) => {
  let inFlight = 0;
  let finished = 0;
  const metrics = {
    requestStarted: () => (inFlight += 1),
    requestFinished: () => {
      inFlight -= 1;
      finished += 1;
    },
  } as unknown as WorkerMetrics;
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let arrived = 0;
  let onArrived: () => void = () => undefined;
  const someArrived = new Promise<void>((resolve) => (onArrived = resolve));
  const app: Application = {
    async handle() {
      arrived += 1;
      if (arrived === 1) onArrived();
      await gate;
      return { status: 200, headers: { 'Content-Type': 'text/plain' }, body: 'ok' };
    },
    async close() {},
  };
  const lines: Record<string, unknown>[] = [];
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  const logger = createLogger({ tier: 'app', level: 'info', destination: sink });
  const worker = createWorkerServer({ config: { ...DEFAULTS, port: 0 }, logger, app, metrics });
  let read = 0;
  worker.server.prependListener('request', () => (read += 1));
  const address = await worker.listen();
  t.teardown(() => worker.close());

  const socket = connect({ host: '127.0.0.1', port: address.port });
  socket.on('error', () => undefined);
  const closed = new Promise((resolve) => socket.once('close', resolve));
  socket.write('GET /api/articles HTTP/1.1\r\nHost: a\r\n\r\n'.repeat(200));
  await someArrived;
  socket.destroy();
  await closed;
  release();
  // Bounded wait for the last 'close' events.
  const deadline = Date.now() + 5_000;
  while (inFlight !== 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  t.ok(read > 1, `${read} requests read`);
  t.equal(inFlight, 0, 'in-flight back to 0');
  t.equal(finished, read, 'each request finished once in the metrics');
  t.equal(lines.filter((line) => line['msg'] === 'request').length, read, 'one access line per request read');
});
