/**
 * Entry point of one server of the proxy comparison (bench/proxy-compare.ts starts it pinned to
 * the server core): `upstream` answers a small JSON like /api/echo; the other roles forward to
 * the upstream URL given as the second argument. Reports its port over IPC.
 */
import http, { type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import httpProxy from 'http-proxy';
import { createLogger } from '../common/logger.js';
import { contextForTarget } from '../web-tier/context.js';
import { DEFAULTS } from '../web-tier/config.js';
import { createProxyHandler } from '../web-tier/proxy/handler.js';
import { proxyOptions } from '../web-tier/server-handlers.js';

export type ServerRole = 'upstream' | 'twotier-http-proxy' | 'twotier-plain' | 'bare-http-proxy' | 'bare-http-proxy-keepalive';

const BODY = JSON.stringify({ method: 'GET', path: '/api/echo', note: 'x'.repeat(64) });

function upstreamListener(): RequestListener {
  return (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) });
    res.end(BODY);
  };
}

/** The web tier's proxy handler behind the same context building server.ts does. */
function twotierListener(upstream: string, engine: 'http-proxy' | 'plain'): RequestListener {
  const logger = createLogger({ tier: 'web', level: 'silent' });
  const handler = createProxyHandler({ ...proxyOptions(DEFAULTS), upstreams: [upstream], engine, activeHealth: { ...DEFAULTS.proxy.activeHealth, intervalMs: 0 }, logger });
  return (req, res) => {
    handler.handle(req, res, contextForTarget(req.url ?? '/', logger));
  };
}

/** http-proxy as its README shows it, with and without a keep-alive agent: the floor under our passes. */
function bareListener(upstream: string, keepAlive: boolean): RequestListener {
  const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: 64 }) : undefined;
  const proxy = httpProxy.createProxyServer(agent === undefined ? { target: upstream } : { target: upstream, agent });
  proxy.on('error', (_error, _req, res) => {
    (res as http.ServerResponse).writeHead?.(502);
    res.end();
  });
  return (req, res) => proxy.web(req, res);
}

function listenerFor(role: ServerRole, upstream: string): RequestListener {
  switch (role) {
    case 'upstream': return upstreamListener();
    case 'twotier-http-proxy': return twotierListener(upstream, 'http-proxy');
    case 'twotier-plain': return twotierListener(upstream, 'plain');
    case 'bare-http-proxy': return bareListener(upstream, false);
    case 'bare-http-proxy-keepalive': return bareListener(upstream, true);
  }
}

const [role, upstream = ''] = process.argv.slice(2) as [ServerRole, string?];
const server = http.createServer(listenerFor(role, upstream));
// Longer than the proxy's keepAliveIdleMs (30 s), as the app tier's is (nodejs/node#20256).
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  process.send?.({ port: (server.address() as AddressInfo).port });
});
process.on('disconnect', () => process.exit(0));
