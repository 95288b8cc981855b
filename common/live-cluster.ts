/**
 * A live feed across the workers of one node:cluster primary, for both tiers: the app tier's
 * workers (app-tier/main.ts) and the web tier's workers running the app embedded
 * (web-tier/cluster.ts, web-tier/embedded.ts). A worker hands each event to its primary over the
 * IPC channel node:cluster already opened, and the primary sends it to every worker, the sender
 * included (app-tier/app/live/hub.ts: one order for everyone). The primary never runs the
 * application, so it relays the envelope without reading the event; each worker checks the event
 * with the application's own guard before trusting it.
 */
import type { Cluster } from 'node:cluster';

/** The IPC message's `type`; other messages on the channel (metrics, reload requests) are left alone. */
export const LIVE_MESSAGE = 'twotier:live';

interface LiveMessage {
  readonly type: typeof LIVE_MESSAGE;
  readonly event: unknown;
}

function isLiveMessage(message: unknown): message is LiveMessage {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === LIVE_MESSAGE && 'event' in message;
}

export interface LiveChannel {
  send(message: unknown): boolean;
  on(event: 'message', listener: (message: unknown) => void): void;
  off(event: 'message', listener: (message: unknown) => void): void;
}

/** The shape of app-tier/app/live/hub.ts's LiveTransport, for any event type. */
export interface ClusterLiveTransport<Event> {
  publish(event: Event): void;
  start(onEvent: (event: Event) => void): Promise<void>;
  close(): Promise<void>;
}

/** What processChannel needs of `process` (a test passes a fake). */
export interface IpcProcess {
  readonly send?: ((message: unknown, sendHandle: undefined, options: undefined, callback: (error: Error | null) => void) => boolean) | undefined;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

/** A cluster worker's IPC channel to its primary (process.send); undefined in a process without one. */
export function processChannel(process: IpcProcess): LiveChannel | undefined {
  if (process.send === undefined) return undefined;
  return {
    // With a callback a closed channel (primary gone) is reported there instead of as an
    // 'error' event that would crash the worker.
    send: (message) => process.send?.(message, undefined, undefined, () => undefined) ?? false,
    on: (event, listener) => process.on(event, listener),
    off: (event, listener) => process.off(event, listener),
  };
}

/** The worker's side: publish through the primary, deliver what the primary sends (when `isEvent` accepts it). */
export function createClusterLiveTransport<Event>(channel: LiveChannel, isEvent: (value: unknown) => value is Event): ClusterLiveTransport<Event> {
  let listener: ((message: unknown) => void) | undefined;
  return {
    publish(event) {
      channel.send({ type: LIVE_MESSAGE, event } satisfies LiveMessage);
    },
    async start(onEvent) {
      listener = (message) => {
        if (isLiveMessage(message) && isEvent(message.event)) onEvent(message.event);
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
