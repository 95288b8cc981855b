/**
 * The plain engine (the default since issue 8): node's own http.request, doing what http-proxy's
 * web-incoming passes do for this configuration (copy the headers, pipe the body, report the
 * response) minus its per-request url.parse, options merge and pass loop.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import type http from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createFreshConnectionAgent } from '../agent.js';
import { withContentLength } from '../body-buffer.js';
import type { AttemptHandler } from '../dispatch.js';
import type { Attempt } from '../exchange.js';
import { buildRequestHeaderList } from '../headers.js';
import type { Upstream } from '../pool.js';
import type { EngineExchange, ProxyEngine } from './engine.js';

export function createPlainEngine(agent: http.Agent, trustedProxies: ReadonlySet<string>): ProxyEngine {
  return {
    name: 'plain',
    open: (req, _res, target, facts) => new PlainExchange(req, target, buildRequestHeaderList(req.rawHeaders, facts, trustedProxies), agent),
    close() {},
  };
}

class PlainExchange implements EngineExchange {
  readonly #req: IncomingMessage;
  readonly #target: string;
  /** The request header section as a flat list, framing included (headers.ts buildRequestHeaderList). */
  #head: string[];
  readonly #agent: http.Agent;

  constructor(req: IncomingMessage, target: string, head: string[], agent: http.Agent) {
    this.#req = req;
    this.#target = target;
    this.#head = head;
    this.#agent = agent;
  }

  reframe(length: number): void {
    this.#head = withContentLength(this.#head, length);
  }

  send(attempt: Attempt, handler: AttemptHandler): void {
    const upstream = attempt.upstream as Upstream;
    const req = this.#req;
    let proxyReq: ClientRequest;
    try {
      // A header list is written as it is: node stores the head at once, path and framing included,
      // and adds no Host of its own (an HTTP/1.0 client may have sent none: the upstream's, as node would).
      const head = req.headers.host === undefined ? [...this.#head, 'Host', upstream.origin.slice(upstream.origin.indexOf('//') + 2)] : this.#head;
      // A retry goes out on a fresh connection: the pooled sockets may all be equally stale.
      const agent = attempt.number === 1 ? this.#agent : createFreshConnectionAgent(this.#agent);
      const options: RequestOptions & { servername?: string } = { host: upstream.hostname, port: upstream.port, method: req.method, path: upstream.basePath + this.#target, headers: head, agent };
      if (upstream.tls === undefined) proxyReq = httpRequest(options);
      else {
        // SNI and the certificate check from the upstream's configured name: node's https agent
        // would otherwise take them from the Host header, the client's (upstream-tls.ts).
        options.servername = upstream.tls.servername;
        proxyReq = httpsRequest(options);
      }
    } catch (error) {
      handler.onError(error);
      return;
    }
    attempt.proxyReq = proxyReq;
    handler.onRequest(proxyReq);
    proxyReq.on('error', (error) => handler.onError(error));
    proxyReq.once('response', (proxyRes: IncomingMessage) => handler.onResponse(proxyRes));
    if (attempt.body === undefined) proxyReq.end();
    else attempt.body.pipe(proxyReq);
  }
}
