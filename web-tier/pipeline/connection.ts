/**
 * Stage 5, connection: what the answer will do to the connection, now that it is known whether
 * the handler reads the request body (app and cgi routes do; the others never read it).
 */
import { hasBody } from '../limits.js';
import { lingerInsteadOfClose, type LingerOptions } from '../lingering-close.js';
import type { Stage } from './exchange.js';

export function createConnection(linger: () => LingerOptions): Stage {
  return function connection({ req, res, route, expectsContinue }) {
    const consumesBody = route.kind === 'app' || route.kind === 'cgi';
    const body = hasBody(req);
    // The body is not read here; draining an unbounded chunked body to keep the connection would cost more than a reconnect.
    if (!consumesBody && body) res.setHeader('Connection', 'close');
    // A response that closes the connection while the body may still be arriving (413 from the
    // body limit, an error page, a static answer to a POST) must not be lost to an RST: linger.
    if (body) lingerInsteadOfClose(req.socket, linger);
    // A request with an Upgrade is its connection's last unless it switches (a 101 replaces this
    // field): with `Connection: upgrade` node's parser has let go of the socket (handle-upgrade.ts).
    if (req.headers.upgrade !== undefined) res.setHeader('Connection', 'close');
    // RFC 9110 §10.1.1: 100 Continue only for a handler that will read the body, after every limit passed.
    if (expectsContinue && consumesBody) res.writeContinue();
    return false;
  };
}
