/**
 * The live feed's fan-out through a cluster primary (common/live-cluster.ts), with a fake IPC
 * channel and a fake node:cluster: what a worker publishes goes to the primary as one envelope,
 * the primary sends it to every connected worker (the sender too) and to no exited one, and a
 * worker hands on only what the application's guard accepts. The real primaries are in
 * test/e2e/live-cluster.test.ts (app tier) and test/e2e/live-embedded-workers.test.ts (web tier).
 */
import t from 'tap';
import { EventEmitter } from 'node:events';
import type { Cluster } from 'node:cluster';
import { createClusterLiveTransport, createLiveRelay, LIVE_MESSAGE, processChannel, type LiveChannel } from '../../common/live-cluster.js';

interface Fake {
  readonly n: number;
}
const isFake = (value: unknown): value is Fake => typeof (value as { n?: unknown } | null)?.n === 'number';

function fakeChannel(): LiveChannel & { sent: unknown[]; emitter: EventEmitter } {
  const emitter = new EventEmitter();
  const sent: unknown[] = [];
  return {
    sent, emitter,
    send: (message) => sent.push(message) > 0,
    on: (event, listener) => emitter.on(event, listener),
    off: (event, listener) => emitter.off(event, listener),
  };
}

t.test('a worker publishes one envelope and delivers only accepted events from it', async (t) => {
  const channel = fakeChannel();
  const transport = createClusterLiveTransport(channel, isFake);
  const got: Fake[] = [];
  await transport.start((event) => got.push(event));
  transport.publish({ n: 1 });
  t.same(channel.sent, [{ type: LIVE_MESSAGE, event: { n: 1 } }], 'sent to the primary, not delivered here at once');
  t.same(got, []);
  channel.emitter.emit('message', { type: LIVE_MESSAGE, event: { n: 1 } });
  channel.emitter.emit('message', { type: LIVE_MESSAGE, event: { n: 'not a number' } });
  channel.emitter.emit('message', { type: 'twotier:metrics', event: { n: 2 } });
  channel.emitter.emit('message', 'ready');
  t.same(got, [{ n: 1 }], 'the relayed event, and nothing the guard or the type refuses');
  await transport.close();
  channel.emitter.emit('message', { type: LIVE_MESSAGE, event: { n: 3 } });
  t.same(got, [{ n: 1 }], 'nothing after close');
  t.equal(channel.emitter.listenerCount('message'), 0, 'the listener is removed');
});

t.test('the primary relays live envelopes to every connected worker, and nothing else', async (t) => {
  const cluster = new EventEmitter();
  const received: Record<string, unknown[]> = { a: [], b: [], gone: [] };
  const worker = (name: string, connected: boolean): unknown => ({
    isConnected: () => connected,
    send: (message: unknown, _handle: unknown, callback: () => void) => {
      received[name]?.push(message);
      callback();
      return true;
    },
  });
  const workers = { 1: worker('a', true), 2: worker('b', true), 3: worker('gone', false) };
  const relay = createLiveRelay(Object.assign(cluster, { workers }) as unknown as Cluster);
  const envelope = { type: LIVE_MESSAGE, event: { n: 1 } };
  cluster.emit('message', workers[1], envelope);
  cluster.emit('message', workers[1], { twotier: 'reload-all' });
  t.same(received, { a: [envelope], b: [envelope], gone: [] }, 'both connected workers, the sender included; not the exited one; not other messages');
  relay.close();
  cluster.emit('message', workers[2], envelope);
  t.equal(received['a']?.length, 1, 'nothing relayed after close');
});

t.test('processChannel: none without an IPC channel; a closed channel is not thrown', async (t) => {
  const emitter = new EventEmitter();
  const on = (event: 'message', listener: (message: unknown) => void): unknown => emitter.on(event, listener);
  const off = (event: 'message', listener: (message: unknown) => void): unknown => emitter.off(event, listener);
  t.equal(processChannel({ on, off }), undefined);
  const calls: unknown[] = [];
  const channel = processChannel({
    send: (message, _handle, _options, callback) => {
      calls.push(message);
      callback(new Error('channel closed'));
      return false;
    },
    on, off,
  });
  t.equal(channel?.send('x'), false);
  t.same(calls, ['x']);
  const got: unknown[] = [];
  const listener = (message: unknown): void => {
    got.push(message);
  };
  channel?.on('message', listener);
  emitter.emit('message', 'y');
  channel?.off('message', listener);
  emitter.emit('message', 'z');
  t.same(got, ['y'], 'listens on the process while subscribed');
});
