/**
 * The live feed across the workers of one box: a worker hands each event to the cluster primary
 * over the IPC channel node:cluster already opened, and the primary sends it to every worker,
 * the sender included (app/live/hub.ts: one order for everyone). The primary never runs the
 * application; relaying a small JSON message is all it does here.
 */
import type { Cluster } from 'node:cluster';
import { isArticleEvent, type ArticleEvent, type LiveTransport } from './app/live/hub.js';

/** The IPC message's `type`; other messages on the channel (metrics) are left alone. */
export const LIVE_MESSAGE = 'twotier:live';

interface LiveMessage {
  readonly type: typeof LIVE_MESSAGE;
  readonly event: ArticleEvent;
}

function isLiveMessage(message: unknown): message is LiveMessage {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === LIVE_MESSAGE && isArticleEvent((message as { event?: unknown }).event);
}

export interface LiveChannel {
  send(message: unknown): boolean;
  on(event: 'message', listener: (message: unknown) => void): void;
  off(event: 'message', listener: (message: unknown) => void): void;
}

/** The worker's side: publish through the primary, deliver what the primary sends. */
export function createClusterLiveTransport(channel: LiveChannel): LiveTransport {
  let listener: ((message: unknown) => void) | undefined;
  return {
    publish(event) {
      channel.send({ type: LIVE_MESSAGE, event } satisfies LiveMessage);
    },
    async start(onEvent) {
      listener = (message) => {
        if (isLiveMessage(message)) onEvent(message.event);
      };
      channel.on('message', listener);
    },
    async close() {
      if (listener !== undefined) channel.off('message', listener);
      listener = undefined;
    },
  };
}

/** The primary's side: every live message a worker sends goes to every connected worker. */
export function createLiveRelay(cluster: Pick<Cluster, 'on' | 'off' | 'workers'>): { close(): void } {
  const onMessage = (_from: unknown, message: unknown): void => {
    if (!isLiveMessage(message)) return;
    for (const worker of Object.values(cluster.workers ?? {})) {
      // A worker that is exiting may have closed its channel: the callback takes the error
      // that would otherwise be an 'error' event on the worker object.
      if (worker?.isConnected() === true) worker.send(message, undefined, () => undefined);
    }
  };
  cluster.on('message', onMessage);
  return {
    close() {
      cluster.off('message', onMessage);
    },
  };
}
