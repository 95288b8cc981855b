/**
 * The http-proxy engine (WEB_PROXY_ENGINE=http-proxy): the package the mission names, with the
 * same passes as the plain engine. http-proxy copies req.headers and creates its upstream request
 * inside proxy.web(); a request hook on the agent sees that request before its head is written,
 * which is where the target and the framing get the web tier's last word.
 */
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type http from 'node:http';
import { Readable } from 'node:stream';
import httpProxy from 'http-proxy';
import type { Logger } from '../../../common/logger.js';
import { createFreshConnectionAgent, withRequestHook, type RequestOptionsSeen } from '../agent.js';
import { withContentLengthField } from '../body-buffer.js';
import type { AttemptHandler } from '../dispatch.js';
import { ClientAbortedError, errorCode } from '../errors.js';
import type { Attempt } from '../exchange.js';
import { buildRequestHeaders, requestFraming, type RequestFraming } from '../headers.js';
import type { Upstream } from '../pool.js';
import type { EngineExchange, ProxyEngine } from './engine.js';

/** The attempt whose proxy.web() call is on the stack: http-proxy creates its request synchronously. */
interface Sending {
  readonly attempt: Attempt;
  readonly handler: AttemptHandler;
  readonly path: string;
  readonly framing: RequestFraming;
}

export function createHttpProxyEngine(agent: http.Agent, trustedProxies: ReadonlySet<string>, logger: Logger): ProxyEngine {
  const proxy = httpProxy.createProxyServer({ selfHandleResponse: true, prependPath: false, xfwd: false, ws: false });
  let sending: Sending | undefined;
  /** The handler of each client request's current attempt, for the events http-proxy emits on the server. */
  const handlers = new WeakMap<IncomingMessage, AttemptHandler>();

  /**
   * One hooked agent for every first attempt, instead of an Object.create() per request (issue 8:
   * per-request churn). A request created outside proxy.web() is refused rather than sent without
   * its timers and exact target.
   */
  const onRequest = (proxyReq: ClientRequest, options: RequestOptionsSeen): void => {
    if (sending === undefined) proxyReq.destroy(new Error('upstream request outside any exchange'));
    else prepare(sending, proxyReq, options);
  };
  const pooled = withRequestHook(agent, onRequest);

  // http-proxy#579: without an 'error' listener, http-proxy throws the first refused connection
  // and the process dies. Each attempt passes its own callback; this listener is the safety net
  // for any path that still emits.
  proxy.on('error', (error, req, res) => {
    const handler = handlers.get(req);
    if (handler !== undefined) {
      handler.onError(error);
      return;
    }
    logger.error({ code: errorCode(error) }, 'proxy error outside any exchange');
    (res as { destroy?: () => void } | undefined)?.destroy?.();
  });
  // http-proxy reports a reset while the client socket is already gone as 'econnreset', not 'error'.
  proxy.on('econnreset', (_error, req) => handlers.get(req)?.onError(new ClientAbortedError()));

  class HttpProxyExchange implements EngineExchange {
    readonly #req: IncomingMessage;
    readonly #res: ServerResponse;
    readonly #target: string;
    #framing: RequestFraming;

    constructor(req: IncomingMessage, res: ServerResponse, target: string) {
      this.#req = req;
      this.#res = res;
      this.#target = target;
      this.#framing = requestFraming(req.rawHeaders);
    }

    reframe(length: number): void {
      this.#framing = { kind: 'length', length };
      this.#req.headers = withContentLengthField(this.#req.headers, length);
    }

    send(attempt: Attempt, handler: AttemptHandler): void {
      const upstream = attempt.upstream as Upstream;
      const first = attempt.number === 1;
      handlers.set(this.#req, handler);
      sending = { attempt, handler, path: upstream.basePath + this.#target, framing: this.#framing };
      try {
        proxy.web(this.#req, this.#res, {
          target: targetOf(upstream),
          // toProxy: http-proxy then takes req.url as it is instead of url.parse()-ing it per request;
          // the path is set in prepare() anyway.
          toProxy: true,
          // A retry goes out on a fresh connection: the pooled sockets may all be equally stale.
          agent: first ? pooled : withRequestHook(createFreshConnectionAgent(agent), onRequest),
          // http-proxy pipes req itself when there is no buffer; a retry's req is already read.
          buffer: first ? attempt.body : (attempt.body ?? Readable.from([])),
          selfHandleResponse: true,
          prependPath: false,
        }, (error) => handler.onError(error));
      } catch (error) {
        handler.onError(error);
      } finally {
        sending = undefined;
      }
    }
  }

  return {
    name: 'http-proxy',
    open(req, res, target, facts) {
      const outgoing = new HttpProxyExchange(req, res, target);
      // http-proxy copies req.headers into the upstream request, so the edge's header section
      // replaces it here (http-proxy's own passes mutate req.headers the same way).
      req.headers = buildRequestHeaders(req.headers, facts, trustedProxies);
      return outgoing;
    },
    close: () => proxy.close(),
  };
}

/** Runs before the request head is written: the last word on target, framing and TLS name. */
function prepare(sending: Sending, proxyReq: ClientRequest, options: RequestOptionsSeen): void {
  sending.attempt.proxyReq = proxyReq;
  // http-proxy passes no servername: node's https agent would take the client's Host (agent.ts).
  const tls = (sending.attempt.upstream as Upstream).tls;
  if (tls !== undefined) options.servername = tls.servername;
  // http-proxy rebuilds the path with url.parse and a regex that collapses "//" and turns "\"
  // into "/": the app must see the target as sent.
  proxyReq.path = sending.path;
  restoreFraming(sending.framing, proxyReq);
  const { handler } = sending;
  handler.onRequest(proxyReq);
  // Registered before http-proxy's own listener (which only emits 'proxyRes' under selfHandleResponse).
  proxyReq.once('response', (proxyRes: IncomingMessage) => handler.onResponse(proxyRes));
}

/**
 * The framing of the upstream request is the web tier's (RFC 9112 §6; framing.ts requestFraming),
 * whatever http-proxy's passes did to the header object: its deleteLength pass sets
 * `Content-Length: 0` and drops Transfer-Encoding on DELETE and OPTIONS without a length, so a
 * chunked body would follow a zero-length request and be read by the app as the next request
 * (smuggling). Set again here, exactly as the plain engine's header list has it.
 */
function restoreFraming(framing: RequestFraming, proxyReq: ClientRequest): void {
  if (framing.kind === 'length') {
    proxyReq.removeHeader('transfer-encoding');
    proxyReq.setHeader('content-length', String(framing.length));
  } else if (framing.kind === 'chunked') {
    proxyReq.removeHeader('content-length');
    proxyReq.setHeader('transfer-encoding', 'chunked');
  } else {
    proxyReq.removeHeader('content-length');
    proxyReq.removeHeader('transfer-encoding');
  }
}

/** http-proxy url.parse()s a string target on every request; a parsed one is used as is. */
type Target = { protocol: 'http:' | 'https:'; host: string; hostname: string; port: number };
const targets = new WeakMap<Upstream, Target>();
function targetOf(upstream: Upstream): Target {
  let target = targets.get(upstream);
  if (target === undefined) {
    // https: http-proxy then uses https.request and sets rejectUnauthorized (its `secure` default: true).
    target = { protocol: upstream.tls === undefined ? 'http:' : 'https:', host: upstream.hostname, hostname: upstream.hostname, port: upstream.port };
    targets.set(upstream, target);
  }
  return target;
}
