/**
 * Refusing a request whose connection cannot go on (a limit broken, a body left unread): answer,
 * then close lingering, because the client may still be sending the body (nginx
 * lingering_close). What arrives after it on that socket is ignored by the accept stage.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { RequestContext } from '../context.js';
import { sendError, type TwotierError } from '../error-response.js';
import { lingerInsteadOfClose, type LingerOptions } from '../lingering-close.js';

export interface Refusal {
  refuse(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, error: TwotierError): void;
  /** Requests ignored on `socket` since its refusal; undefined when it was never refused. */
  ignoredSince(socket: Socket): number | undefined;
  ignoreOneMore(socket: Socket): void;
  linger(): LingerOptions;
}

export function createRefusal(linger: () => LingerOptions): Refusal {
  /** Sockets whose framing can no longer be trusted (value: requests ignored since). */
  const doomed = new WeakMap<Socket, number>();
  return {
    refuse(req, res, ctx, error) {
      doomed.set(req.socket, 0);
      lingerInsteadOfClose(req.socket, linger);
      res.once('finish', () => req.socket.destroySoon());
      sendError(res, ctx, error, { close: true });
    },
    ignoredSince: (socket) => doomed.get(socket),
    ignoreOneMore: (socket) => void doomed.set(socket, (doomed.get(socket) ?? 0) + 1),
    linger,
  };
}
