import t from 'tap';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { waitForWorkers } from '../../bench/readiness.js';

/** An echo stand-in: the first `late` answers come from worker 1 only, then workers take turns. */
async function fakeCluster(t: { teardown(fn: () => void): void }, workers: number, late: number): Promise<number> {
  let count = 0;
  const server = createServer((_req, res) => {
    count += 1;
    const pid = count <= late ? 1 : 1 + (count % workers);
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ worker: { pid, address: '127.0.0.1', port: 0 } }));
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
