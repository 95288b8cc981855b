/** Which of two events an emitter sends first; both listeners are removed once one has run. */
import type { EventEmitter } from 'node:events';

/** Resolves true on `wanted`, false on `instead` (e.g. 'drain' vs 'close', 'listening' vs 'exit'). */
export function firstEvent(emitter: Pick<EventEmitter, 'once' | 'off'>, wanted: string, instead: string): Promise<boolean> {
  return new Promise((resolve) => {
    const onWanted = (): void => finish(true);
    const onInstead = (): void => finish(false);
    function finish(value: boolean): void {
      emitter.off(wanted, onWanted);
      emitter.off(instead, onInstead);
      resolve(value);
    }
    emitter.once(wanted, onWanted);
    emitter.once(instead, onInstead);
  });
}
