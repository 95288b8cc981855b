/**
 * The web tier's request path, top to bottom, in one place (http-proxy's WEB_PASSES, fastify's
 * handle-request.js). Every listener (server-listener.ts: plain HTTP today, TLS next) hands its
 * requests here; a stage that answers the request stops the ones after it.
 *
 *   accept → stamp → limits → classify → connection → dispatch (one handler) … finish
 */
import type { IncomingMessage } from 'node:http';
import type { Logger } from '../../common/logger.js';
import type { WebMetrics } from '../operator/metrics.js';
import type { PeerGuard } from '../peer-guard.js';
import type { ResponseSite, WebResponse } from '../response.js';
import type { LiveConfig } from '../server-live-config.js';
import { createAccept } from './accept.js';
import { createClassify } from './classify.js';
import { createConnection } from './connection.js';
import { createDispatch, type RouteTable } from './dispatch.js';
import { Exchange, type Stage } from './exchange.js';
import { createLimits } from './limits.js';
import type { Refusal } from './refusal.js';
import { createStamp } from './stamp.js';
import { createTlsEdge } from '../tls/edge-stage.js';
import type { AcmeChallenges } from '../tls/acme-challenges.js';

/** A listener's way in: node's 'request' (expectsContinue false) and 'checkContinue' (true). */
export type HandleRequest = (req: IncomingMessage, res: WebResponse, expectsContinue: boolean) => void;

export interface PipelineParts {
  readonly live: LiveConfig;
  readonly logger: Logger;
  readonly metrics: Pick<WebMetrics, 'onRequestStart'>;
  readonly peerGuard: Pick<PeerGuard, 'retryAfter'>;
  readonly refusal: Refusal;
  /** The response site: `finish` (finish.ts) runs from it when each response closes. */
  readonly site: ResponseSite;
  readonly routes: RouteTable;
  /** The HTTPS listener's port once it listens (issue 15); undefined while TLS is off. */
  readonly httpsPort?: () => number | undefined;
  /** WEB_TLS=acme: the pending HTTP-01 tokens, answered in stage 5b before any redirect (tls/acme-challenges.ts). */
  readonly acmeChallenges?: AcmeChallenges;
}

export function createRequestPipeline(parts: PipelineParts): HandleRequest {
  const { live } = parts;
  const stages: readonly Stage[] = [
    // 1. A socket a refusal closed carries no more requests: ignore what still arrives on it.
    createAccept(parts.refusal),
    // 2. Request id, context, the response tracked (access line and metrics when it closes).
    createStamp(parts),
    // 3. 400/413/414/421/429/431/501/505 before anything reads the path.
    createLimits(parts),
    // 4. health | operator | static | app | cgi | asterisk, or 400 for an ambiguous path.
    createClassify(live),
    // 5. Connection: close, lingering, 100 Continue: by whether the handler reads the body.
    createConnection(() => live.linger),
    // 5b. With TLS on: HSTS over TLS, the plain listener's redirect to https (tls/edge-stage.ts).
    createTlsEdge(live, parts.httpsPort ?? (() => undefined), parts.acmeChallenges),
    // 6. Exactly one handler; one that throws fails its own request (500).
    createDispatch(parts.routes),
  ];
  return function handleRequest(req, res, expectsContinue) {
    const exchange = new Exchange(req, res, expectsContinue);
    for (const stage of stages) if (stage(exchange)) return;
  };
}
