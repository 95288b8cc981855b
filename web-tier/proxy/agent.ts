/**
 * Connections to the app tier. http-proxy's default is `agent: false`: a new TCP connection
 * (and `Connection: close`) per request, about 7x slower (http-proxy#929). A keep-alive agent
 * with a bound on sockets per upstream reuses connections instead.
 */
import http from 'node:http';
import https from 'node:https';
import type { UpstreamTlsOptions } from './upstream-tls.js';

export interface UpstreamAgentOptions {
  /** Connections per upstream; requests beyond it wait in the agent's queue. */
  maxSockets: number;
  /**
   * How long an idle pooled connection is kept, in ms. Must be shorter than the app tier's
   * `keepAliveTimeout`: when the server closes an idle socket at the moment the client reuses
   * it, the request dies with ECONNRESET (nodejs/node#20256). Closing first on this side wins.
   */
  keepAliveIdleMs: number;
  /**
   * https:// upstreams (issue 15): an https.Agent whose connections verify against `ca`.
   * Verification stays on (rejectUnauthorized's default); each request names its servername.
   */
  tls?: UpstreamTlsOptions | undefined;
}

/** The TLS options each TLS agent was made with, for the fresh-connection agent of a retry. */
const tlsOf = new WeakMap<http.Agent, UpstreamTlsOptions>();

function tlsAgent(options: http.AgentOptions, tls: UpstreamTlsOptions): https.Agent {
  const agent = new https.Agent({ ...options, ...(tls.ca === undefined ? {} : { ca: tls.ca }) });
  tlsOf.set(agent, tls);
  return agent;
}

/** The part of http.Agent that ClientRequest calls (node's docs: an "Agent-like Object"). */
interface AgentLike {
  addRequest(request: http.ClientRequest, options: RequestOptionsSeen): void;
}

/** The request's options as the agent receives them (it copies them into its connection's options). */
export type RequestOptionsSeen = { servername?: string } & Record<string, unknown>;

export function createUpstreamAgent(options: UpstreamAgentOptions): http.Agent {
  const settings: http.AgentOptions = {
    keepAlive: true,
    maxSockets: options.maxSockets,
    maxFreeSockets: options.maxSockets,
    // node's Agent applies `timeout` to free sockets and destroys them when it fires; a socket
    // in use only gets a 'timeout' event, which nothing acts on (the proxy has its own timers).
    timeout: options.keepAliveIdleMs,
    // Oldest first: under load every pooled socket carries requests in turn, so when an app
    // worker drains (answering each with Connection: close) all of them are retired within its
    // grace period instead of one idling at the bottom of a LIFO stack until the worker closes
    // it under a request. The pool's idle timeout (30 s) stays below the app's keep-alive (65 s).
    scheduling: 'fifo',
  };
  return options.tls === undefined ? new http.Agent(settings) : tlsAgent(settings, options.tls);
}

/**
 * A one-connection agent for a retry: a fresh socket, never another stale pooled one. Of the
 * same kind as `like` (the pooled agent): TLS with the same trust anchors when it is TLS.
 */
export function createFreshConnectionAgent(like?: http.Agent): http.Agent {
  const tls = like === undefined ? undefined : tlsOf.get(like);
  return tls === undefined ? new http.Agent({ keepAlive: false }) : tlsAgent({ keepAlive: false }, tls);
}

/**
 * Wraps an agent so that `onRequest` sees each ClientRequest the moment http-proxy creates it,
 * before its header is written. http-proxy only reveals it on 'proxyReq', which fires on the
 * socket's assignment: too late when the agent queues the request, and never for `Expect`.
 * `onRequest` also sees the request's options before the agent uses them: http-proxy copies no
 * `servername` into them, and node's https agent would otherwise take SNI and the certificate
 * check from the client's Host header (lib/_http_agent.js calculateServerName).
 * Every other property is read through to the real agent (ClientRequest only reads them).
 */
export function withRequestHook(agent: http.Agent, onRequest: (request: http.ClientRequest, options: RequestOptionsSeen) => void): http.Agent {
  const real = agent as http.Agent & AgentLike;
  const hooked = Object.create(agent) as http.Agent & AgentLike;
  hooked.addRequest = (request, options) => {
    onRequest(request, options);
    real.addRequest(request, options);
  };
  return hooked;
}
