/**
 * Stage 1, accept: a request read from a socket whose framing can no longer be trusted (a
 * refusal closed it, refusal.ts) is not a request. It is never answered and never counted.
 */
import { closeWhenAnswered, stopReading } from '../lingering-close.js';
import { responsesOwed, type WebResponse } from '../response.js';
import type { Refusal } from './refusal.js';
import type { Stage } from './exchange.js';

/** Requests a refused connection may still carry (never answered) before it is cut: each costs node a req/res pair. */
const MAX_IGNORED_AFTER_REFUSAL = 16;

export function createAccept(refusal: Refusal): Stage {
  return function accept({ req }) {
    const ignored = refusal.ignoredSince(req.socket);
    if (ignored === undefined) return false;
    refusal.ignoreOneMore(req.socket);
    if (ignored + 1 <= MAX_IGNORED_AFTER_REFUSAL) req.resume();
    // Once: stop reading, close after the answers still owed (responses ignored here are none of them).
    else if (ignored === MAX_IGNORED_AFTER_REFUSAL) closeWhenAnswered(req.socket, responsesOwed(req.socket).filter((owed) => (owed as WebResponse).ctx !== undefined), refusal.linger());
    else stopReading(req.socket);
    return true;
  };
}
