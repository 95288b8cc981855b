/**
 * The WEB_WORKERS primary with a fake node:cluster: a dead worker is replaced, signals reach
 * every worker, close() resolves when the last one has exited. (The e2e file runs the real one.)
 */
import t from 'tap';
import { EventEmitter } from 'node:events';
import type { Cluster } from 'node:cluster';
import { createLogger } from '../../../common/logger.js';
import { createWebCluster, INSTANCE_TOKEN_ENV, RELOAD_ALL_MESSAGE } from '../../../web-tier/cluster.js';

interface FakeWorker extends EventEmitter {
  id: number;
  signals: string[];
  /** The env fork() was given (the supervisor's extra env for every worker). */
  env: Record<string, string> | undefined;
  process: { pid: number; kill(signal: string): void };
  isConnected(): boolean;
}

function fakeCluster(options: { listen?: boolean } = {}) {
  const emitter = new EventEmitter();
  const workers: FakeWorker[] = [];
  let next = 1;
  const cluster = Object.assign(emitter, {
    fork(env?: Record<string, string>): FakeWorker {
      const id = next++;
      // isConnected: the IPC channel is gone once a fake worker has exited (cluster.ts waits for a
      // live channel's last message before it fails a start).
      const worker = Object.assign(new EventEmitter(), { id, signals: [] as string[], env, isConnected: () => false }) as FakeWorker;
      worker.process = {
        pid: 1000 + id,
        kill(signal: string) {
          worker.signals.push(signal);
          // A worker stops on SIGTERM/SIGKILL, as the real one does after its drain.
          if (signal === 'SIGTERM' || signal === 'SIGKILL') setImmediate(() => worker.emit('exit', 0, null));
        },
      };
      workers.push(worker);
      if (options.listen !== false) setImmediate(() => worker.emit('listening'));
      return worker;
    },
  });
  return { cluster: cluster as unknown as Cluster, emitter, workers };
}

const logger = createLogger({ tier: 'web', level: 'silent' });

t.test('forks N, replaces a dead worker, forwards SIGHUP, close() waits for every exit', async (t) => {
  const fake = fakeCluster();
  const web = createWebCluster({ cluster: fake.cluster, workers: 2, logger, restartDelayMs: 10 });
  await web.start();
  t.same(web.pids(), [1001, 1002]);

  fake.workers[0]?.emit('exit', 1, null);
  // The replacement comes after the back-off (10 ms here); wait for it, bounded.
  for (let tick = 0; tick < 200 && web.pids().length < 2; tick += 1) await new Promise((resolve) => setTimeout(resolve, 5));
  t.same(web.pids().sort(), [1002, 1003], 'the dead worker was replaced');

  web.reload();
  t.same(fake.workers.slice(1).map((worker) => worker.signals), [['SIGHUP'], ['SIGHUP']], 'SIGHUP to every live worker');
  fake.emitter.emit('message', fake.workers[1], { ...RELOAD_ALL_MESSAGE });
  t.same(fake.workers[2]?.signals, ['SIGHUP', 'SIGHUP'], 'a worker asking for reload-all reaches every worker');

  await web.close();
  t.same(fake.workers.slice(1).map((worker) => worker.signals.at(-1)), ['SIGTERM', 'SIGTERM']);
  t.same(web.pids(), [], 'none left');
  t.equal(fake.workers.length, 3, 'no replacement while stopping');
});

t.test('a worker that exits before listening fails start()', async (t) => {
  const fake = fakeCluster({ listen: false });
  const web = createWebCluster({ cluster: fake.cluster, workers: 1, logger, restartDelayMs: 60_000 });
  const starting = web.start();
  fake.workers[0]?.emit('exit', 1, null);
  await t.rejects(starting, /before listening/);
  await web.close();
});

t.test('every worker, a replacement too, gets the cluster\'s one instance token (the proxy-loop guard: proxy/loop-guard.ts)', async (t) => {
  const fake = fakeCluster();
  const web = createWebCluster({ cluster: fake.cluster, workers: 2, logger, restartDelayMs: 10 });
  await web.start();
  fake.workers[0]?.emit('exit', 1, null);
  for (let tick = 0; tick < 200 && fake.workers.length < 3; tick += 1) await new Promise((resolve) => setTimeout(resolve, 5));
  const tokens = fake.workers.map((worker) => worker.env?.[INSTANCE_TOKEN_ENV]);
  t.equal(tokens.length, 3, 'two workers and a replacement');
  t.match(tokens[0], /^[0-9a-f]{16}$/);
  t.same(new Set(tokens).size, 1, 'one token for all of them');
  await web.close();

  const other = fakeCluster();
  const second = createWebCluster({ cluster: other.cluster, workers: 1, logger });
  await second.start();
  t.not(other.workers[0]?.env?.[INSTANCE_TOKEN_ENV], tokens[0], 'another cluster, another deployment: another token');
  await second.close();
});
