/**
 * common/supervisor.ts with a fake node:cluster (the tiers' tests run it with real processes:
 * test/app-tier/supervisor.test.ts, test/web-tier/server/cluster.test.ts, test/e2e/).
 */
import t from 'tap';
import { EventEmitter } from 'node:events';
import type { Cluster, Worker } from 'node:cluster';
import { createLogger } from '../../common/logger.js';
import { ListenError } from '../../common/listen-error.js';
import { createClusterSupervisor, replaceRequest, type ClusterSupervisorOptions } from '../../common/supervisor.js';

interface FakeWorker extends EventEmitter {
  signals: string[];
  connected: boolean;
  process: { pid: number; kill(signal: string): void };
  isConnected(): boolean;
}

/** Workers listen on the next turn unless `listen` says no; they exit on SIGTERM unless stubborn. */
function fakeCluster(behaviour: { listen?: (index: number) => boolean; stubborn?: boolean; lastMessage?: unknown } = {}) {
  const emitter = new EventEmitter();
  const workers: FakeWorker[] = [];
  const cluster = Object.assign(emitter, {
    fork(): FakeWorker {
      const index = workers.length;
      const worker = Object.assign(new EventEmitter(), { signals: [] as string[], connected: true }) as FakeWorker;
      worker.isConnected = () => worker.connected;
      // As node's cluster does, 'exit' may come before the channel's last message and its end.
      const exit = (signal: string | null): void => {
        worker.emit('exit', signal === null ? 1 : null, signal);
        setImmediate(() => {
          if (behaviour.lastMessage !== undefined) emitter.emit('message', worker, behaviour.lastMessage);
          worker.connected = false;
          worker.emit('disconnect');
        });
      };
      worker.process = {
        pid: 2000 + index,
        kill(signal: string) {
          worker.signals.push(signal);
          if (signal === 'SIGKILL' || (signal === 'SIGTERM' && behaviour.stubborn !== true)) setImmediate(() => exit(signal));
        },
      };
      workers.push(worker);
      if (behaviour.listen?.(index) !== false) setImmediate(() => worker.emit('listening', { address: '127.0.0.1', port: 4321 }));
      else setImmediate(() => exit(null));
      return worker;
    },
  });
  return { cluster: cluster as unknown as Cluster, emitter, workers };
}

const logger = createLogger({ tier: 'app', level: 'silent' });
const base = { logger, workers: 2, restartDelayMs: 5, maxRestartDelayMs: 50, minUptimeMs: 60_000, maxStartFailures: 3 } satisfies Partial<ClusterSupervisorOptions>;

t.test('start resolves with the address; rolling reload replaces each worker after its successor listens', async (t) => {
  const fake = fakeCluster();
  const restarts: string[] = [];
  const supervisor = createClusterSupervisor({ ...base, cluster: fake.cluster, onRestart: (reason) => restarts.push(reason) });
  t.teardown(() => supervisor.close());
  t.same(await supervisor.start(), { address: '127.0.0.1', port: 4321 });
  const reloading = supervisor.rollingReload();
  t.equal(supervisor.rollingReload(), reloading, 'a second call joins the reload under way');
  await reloading;
  t.same(supervisor.pids(), [2002, 2003], 'both replaced, in order');
  t.same(fake.workers.map((worker) => worker.signals), [['SIGTERM'], ['SIGTERM'], [], []]);
  t.same(restarts, ['reload', 'reload'], 'retired workers are not replaced again');
  supervisor.signal('SIGHUP');
  t.same(fake.workers.slice(2).map((worker) => worker.signals), [['SIGHUP'], ['SIGHUP']]);
  await supervisor.close();
  t.same(supervisor.pids(), []);
});

t.test('a listen failure sent just before the exit wins over the generic start failure', async (t) => {
  const fake = fakeCluster({ listen: () => false, lastMessage: { twotier: 'listen-failed', errno: 'EADDRINUSE', host: '127.0.0.1', port: 80 } });
  const supervisor = createClusterSupervisor({ ...base, cluster: fake.cluster, workers: 1, maxStartFailures: 1 });
  t.teardown(() => supervisor.close());
  const starting = supervisor.start();
  const error = await starting.then(() => undefined, (failure: unknown) => failure);
  t.type(error, ListenError);
  t.equal(fake.workers.length, 1, 'not replaced');
});

t.test('failed starts back off and end start() after maxStartFailures', async (t) => {
  const fake = fakeCluster({ listen: () => false });
  const supervisor = createClusterSupervisor({ ...base, cluster: fake.cluster, workers: 1 });
  t.teardown(() => supervisor.close());
  await t.rejects(supervisor.start(), /workers exit at start-up \(3 in a row, last exit code 1\)/);
  t.equal(fake.workers.length, 3);
});

t.test('close() kills a worker that will not exit after killAfterMs; other messages reach onMessage until then', async (t) => {
  const fake = fakeCluster({ stubborn: true });
  const messages: unknown[] = [];
  const supervisor = createClusterSupervisor({ ...base, cluster: fake.cluster, killAfterMs: 20, onMessage: (_worker: Worker, message) => messages.push(message) });
  await supervisor.start();
  fake.emitter.emit('message', fake.workers[0], 'hello');
  const closing = supervisor.close();
  fake.emitter.emit('message', fake.workers[0], 'too late');
  await closing;
  t.same(messages, ['hello']);
  t.same(fake.workers.map((worker) => worker.signals), [['SIGTERM', 'SIGKILL'], ['SIGTERM', 'SIGKILL']]);
  t.equal(supervisor.close(), closing, 'idempotent');
});

t.test('workers that ask to be replaced are replaced one at a time, each after its successor listens', async (t) => {
  const fake = fakeCluster();
  const events: string[] = [];
  const fork = fake.cluster.fork.bind(fake.cluster);
  fake.cluster.fork = ((env?: NodeJS.ProcessEnv) => {
    const worker = fork(env) as unknown as FakeWorker;
    const pid = worker.process.pid;
    const kill = worker.process.kill.bind(worker.process);
    worker.process.kill = (signal: string) => {
      events.push(`${signal} ${pid}`);
      kill(signal);
    };
    worker.on('listening', () => events.push(`listening ${pid}`));
    worker.on('exit', () => events.push(`exit ${pid}`));
    return worker as unknown as Worker;
  }) as Cluster['fork'];
  const restarts: string[] = [];
  const supervisor = createClusterSupervisor({ ...base, cluster: fake.cluster, onRestart: (reason) => restarts.push(reason) });
  t.teardown(() => supervisor.close());
  await supervisor.start();
  events.length = 0;
  const [first, second] = fake.workers as [FakeWorker, FakeWorker];
  // Both reach APP_MAX_REQUESTS together (the message a worker sends), one of them twice.
  fake.emitter.emit('message', first, replaceRequest('max-requests'));
  fake.emitter.emit('message', second, replaceRequest('max-requests'));
  fake.emitter.emit('message', first, replaceRequest('max-requests'));
  await supervisor.replaceWorker(second as unknown as Worker);
  t.same(events, [
    'listening 2002', 'SIGTERM 2000', 'exit 2000',
    'listening 2003', 'SIGTERM 2001', 'exit 2001',
  ], 'never two at once: the next successor is forked once the previous old worker has exited');
  t.same(supervisor.pids(), [2002, 2003], 'each replaced once');
  t.same(restarts, ['reload', 'reload'], 'counted as planned replacements, not crashes');
});

t.test('a replacement that dies before listening leaves the old worker serving; one asked during a reload waits for it', async (t) => {
  const fake = fakeCluster({ listen: (index) => index !== 2 });
  const supervisor = createClusterSupervisor({ ...base, cluster: fake.cluster });
  t.teardown(() => supervisor.close());
  await supervisor.start();
  await supervisor.replaceWorker(fake.workers[0] as unknown as Worker);
  t.same(supervisor.pids(), [2000, 2001], 'the old worker keeps serving; nothing else was forked');
  t.same(fake.workers[0]?.signals, [], 'never asked to drain');
  const reloading = supervisor.rollingReload();
  const asked = supervisor.replaceWorker(fake.workers[1] as unknown as Worker);
  await reloading;
  await asked;
  t.same(supervisor.pids(), [2003, 2004], 'the reload replaced both; the ask found its worker gone and did nothing');
  t.equal(fake.workers.length, 5);
});
