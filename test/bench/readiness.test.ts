import t from 'tap';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { waitForWorkers } from '../../bench/readiness.js';

/**
 * An echo stand-in that behaves like node:cluster: each connection (not each request) goes to
 * one worker; the first `late` connections all reach worker 1, later ones take turns.
 */
async function fakeCluster(t: { teardown(fn: () => void): void }, workers: number, late: number): Promise<number> {
  let connections = 0;
  const workerOf = new WeakMap<object, number>();
  const server = createServer((req, res) => {
    const pid = workerOf.get(req.socket) ?? 0;
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ worker: { pid, address: '127.0.0.1', port: 0 } }));
  });
  server.on('connection', (socket) => {
    connections += 1;
    workerOf.set(socket, connections <= late ? 1 : 1 + (connections % workers));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

t.test('waits until every worker has answered', async (t) => {
  const port = await fakeCluster(t, 3, 7);
  t.equal(await waitForWorkers({ port, workers: 3, pauseMs: 1 }), 3);
});

t.test('gives up, naming how many answered, when a worker never comes', async (t) => {
  const port = await fakeCluster(t, 1, 0);
  await t.rejects(waitForWorkers({ port, workers: 2, timeoutMs: 200, pauseMs: 10 }), /only 1 of 2 app workers answered/);
});
