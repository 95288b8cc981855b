/**
 * One request on its way through the pipeline's stages (handle-request.ts), and the shape of a
 * stage. Each stage fills in what the next ones read: `stamp` the context and the parsed
 * target, `classify` the route.
 */
import type { IncomingMessage } from 'node:http';
import type { Rejection, Route, Target } from '../classify.js';
import type { WebRequestContext } from '../context.js';
import type { WebResponse } from '../response.js';

export class Exchange {
  /** Set by the stamp stage, which runs before every stage that reads it. */
  ctx!: WebRequestContext;
  /** The request-target split once (stamp), or why it cannot be (answered by classify, after the limits). */
  target!: Target | Rejection;
  /** Set by the classify stage. */
  route!: Route;

  constructor(
    readonly req: IncomingMessage,
    readonly res: WebResponse,
    /** The request came through 'checkContinue': 100 Continue is owed before its body is read. */
    readonly expectsContinue: boolean,
  ) {}
}

/**
 * A step of the request path. Returns true when the request has been answered (or is never
 * to be): the stages after it do not run. Like fastify's handle-request.js, each returns early
 * once the response is decided.
 */
export type Stage = (exchange: Exchange) => boolean;
