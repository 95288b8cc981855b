/**
 * The lifecycle of one exchange as one field. Every change of phase goes through `moveTo`, and the
 * transitions it allows are this table and nothing else:
 *
 *   received ──► queued ──► dispatched ──► responding ──► done
 *      │           │  ▲          │              │
 *      │           │  └─ retry ──┘              │
 *      └───────────┴─────────────┴──────────────┴────► failed
 *
 * `failed` is an answer the web tier wrote itself (502/503/504/413 …) or a client that left; `done`
 * is an upstream's response written whole. Both are final.
 */
import type { Logger } from '../../common/logger.js';

export type Phase = 'received' | 'queued' | 'dispatched' | 'responding' | 'done' | 'failed';

/** received: the body may still be read whole (request-buffering.ts) before the exchange queues. */
export const TRANSITIONS: Readonly<Record<Phase, readonly Phase[]>> = Object.freeze({
  received: ['queued', 'failed'],
  queued: ['dispatched', 'failed'],
  dispatched: ['queued', 'responding', 'failed'],
  responding: ['done', 'failed'],
  done: [],
  failed: [],
});

export interface Phased {
  phase: Phase;
  readonly ctx: { readonly logger: Logger };
}

export class IllegalPhaseError extends Error {
  readonly code = 'WEB_ERR_ILLEGAL_PHASE';
  constructor(from: Phase, to: Phase) {
    super(`exchange cannot move from ${from} to ${to}`);
    this.name = 'IllegalPhaseError';
  }
}

let throwOnIllegal = false;

/**
 * Tests turn an illegal transition into a throw (a crash of the test, which fails it); a running
 * tier logs it at error level and keeps the phase it had, so that one broken exchange never takes
 * the process down.
 */
export function throwOnIllegalPhase(on: boolean): void {
  throwOnIllegal = on;
}

/** The client has (or will have) its answer, or is gone: nothing may answer it again. */
export function isSettled(phase: Phase): boolean {
  return phase === 'responding' || phase === 'done' || phase === 'failed';
}

/** Moves `exchange` to `to` when the table allows it; false (and logged, or thrown under test) otherwise. */
export function moveTo(exchange: Phased, to: Phase): boolean {
  const from = exchange.phase;
  if (TRANSITIONS[from].includes(to)) {
    exchange.phase = to;
    return true;
  }
  const error = new IllegalPhaseError(from, to);
  if (throwOnIllegal) throw error;
  exchange.ctx.logger.error({ code: error.code, from, to }, 'illegal exchange phase transition');
  return false;
}
