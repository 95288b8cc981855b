import t from 'tap';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { appWorkerPid, waitForWorkers, webProcessPid } from '../../bench/readiness.js';

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
    // The app tier's echo names its worker; the web tier's status page names its own process.
    if (req.url === '/-/status.json') res.end(JSON.stringify({ generatedAt: 'now', web: { pid, node: 'v20' } }));
    else if (req.url === '/api/echo') res.end(JSON.stringify({ worker: { pid, address: '127.0.0.1', port: 0 } }));
    else res.end('{}');
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

t.test('the web tier: N distinct pids from /-/status.json, named in the error when they do not come', async (t) => {
  const port = await fakeCluster(t, 2, 3);
  t.equal(await waitForWorkers({ port, workers: 2, pauseMs: 1, path: '/-/status.json', pidOf: webProcessPid, what: 'web tier workers' }), 2);
  const single = await fakeCluster(t, 1, 0);
  await t.rejects(waitForWorkers({ port: single, workers: 2, timeoutMs: 200, pauseMs: 10, path: '/-/status.json', pidOf: webProcessPid, what: 'web tier workers' }), /only 1 of 2 web tier workers answered/);
  await t.rejects(waitForWorkers({ port, workers: 2, timeoutMs: 200, pauseMs: 10, path: '/-/status.json' }), /only 0 of 2 app workers/, 'the echo reader finds no pid in a status page');
});

t.test('pid readers take a positive integer from their own field only', async (t) => {
  t.equal(appWorkerPid({ worker: { pid: 42 } }), 42);
  t.equal(appWorkerPid({ web: { pid: 42 } }), null);
  t.equal(webProcessPid({ web: { pid: 43 } }), 43);
  t.equal(webProcessPid({ web: { pid: '43' } }), null);
  t.equal(webProcessPid({ web: { pid: 0 } }), null);
  t.equal(webProcessPid(null), null);
});
