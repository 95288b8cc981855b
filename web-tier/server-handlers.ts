/**
 * Builds the handlers a request can end in (static, app, cgi) from the web tier's config, so
 * that `server.ts` builds them once at start-up and `reload()` builds a new proxy or CGI
 * gateway from a new config the same way.
 */
import type { Logger } from '../common/logger.js';
import type { WebConfig } from './config.js';
import type { RequestContext, RequestHandler } from './context.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createCgiHandler } from './cgi/handler.js';
import { createProxyHandler, PROXY_DEFAULTS, type ProxyHandler, type ProxyOptions } from './proxy/handler.js';
import { createStaticHandler } from './static/handler.js';

/** The handlers a request can end in (health and operator are the server's own). */
export interface WebHandlers {
  readonly static: RequestHandler;
  /** Serves the dynamic prefixes: the proxy to the app tier (default) or the app embedded in-process. */
  readonly app: RequestHandler & { hasHealthyUpstream?(): boolean };
  readonly cgi: RequestHandler;
}

export type Dispatch = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => void;

/** Every ProxyOptions field, from config (web-tier/README.md lists the env names). */
export function proxyOptions(config: WebConfig): ProxyOptions {
  return {
    engine: config.proxyEngine,
    upstreams: config.upstreams,
    balance: config.proxyBalance,
    connectTimeoutMs: config.proxyConnectTimeoutMs,
    responseTimeoutMs: config.proxyResponseTimeoutMs,
    bodyIdleTimeoutMs: config.proxyBodyIdleTimeoutMs,
    maxSocketsPerUpstream: config.proxyMaxSocketsPerUpstream,
    maxQueue: config.proxyMaxQueue,
    queueTimeoutMs: config.proxyQueueTimeoutMs,
    keepAliveIdleMs: config.proxyKeepAliveIdleMs,
    maxBodyBytes: config.maxBodyBytes,
    trustedProxies: config.trustedProxies,
    retryIdempotentOnReset: config.proxyRetryIdempotentOnReset,
    maxReplayBodyBytes: config.proxyMaxReplayBodyBytes,
    bufferBodyBytes: config.proxyBufferBodyBytes,
    retryBudget: { ratio: config.proxyRetryBudgetPercent / 100, minPerWindow: config.proxyRetryBudgetMinPerWindow, windowMs: config.proxyRetryBudgetWindowMs },
    passiveHealth: { maxFails: config.proxyMaxFails, failTimeoutMs: config.proxyFailTimeoutMs },
    activeHealth: config.proxyHealthIntervalMs === 0 || PROXY_DEFAULTS.activeHealth === false
      ? false
      : { intervalMs: config.proxyHealthIntervalMs, timeoutMs: config.proxyHealthTimeoutMs, path: config.proxyHealthPath },
  };
}

export function buildProxy(config: WebConfig, logger: Logger): ProxyHandler {
  return createProxyHandler({ ...proxyOptions(config), logger: logger.child({ component: 'proxy' }) });
}

/** Counters the operator metrics keep for the CGI gateway and the static file cache. */
export interface HandlerHooks {
  readonly onCgiSpawn: () => void;
  readonly onCgiExit: (failed: boolean) => void;
  readonly onStaticCacheLookup: (hit: boolean) => void;
}

export function buildCgi(config: WebConfig, logger: Logger, onLocalRedirect: Dispatch, hooks?: HandlerHooks): RequestHandler {
  return createCgiHandler({
    cgiDir: config.cgiDir,
    timeoutMs: config.cgiTimeoutMs,
    maxProcesses: config.cgiMaxProcesses,
    maxBodyBytes: config.maxBodyBytes,
    serverSoftware: 'twotier',
    passEnv: { DATABASE_URL: config.databaseUrl },
    documentRoot: config.root,
    onLocalRedirect,
    ...(hooks === undefined ? {} : { onSpawn: hooks.onCgiSpawn, onExit: hooks.onCgiExit }),
    logger: logger.child({ component: 'cgi' }),
  });
}

export function buildStatic(config: WebConfig, logger: Logger, hooks?: HandlerHooks): RequestHandler {
  return createStaticHandler({
    root: config.root,
    index: config.staticIndex,
    listingDirs: config.listingDirs,
    // zod's optional keys are `?: T | undefined`; the handler's are `?: T`.
    cacheControl: config.cacheControl.map((rule) => ({
      value: rule.value,
      ...(rule.prefix === undefined ? {} : { prefix: rule.prefix }),
      ...(rule.pattern === undefined ? {} : { pattern: rule.pattern }),
    })),
    followOutsideSymlinks: config.followOutsideSymlinks,
    cacheMaxBytes: config.staticCacheMaxBytes,
    cacheMaxFileBytes: config.staticCacheMaxFileBytes,
    statTtlMs: config.staticStatTtlMs,
    ...(hooks === undefined ? {} : { onCacheLookup: hooks.onStaticCacheLookup }),
    logger: logger.child({ component: 'static' }),
  });
}

/** Config keys whose change needs a new proxy handler (the upstream pool lives in it). */
export function proxyKeysChanged(before: WebConfig, after: WebConfig): boolean {
  return JSON.stringify(proxyOptions(before)) !== JSON.stringify(proxyOptions(after));
}

export function cgiKeysChanged(before: WebConfig, after: WebConfig): boolean {
  return before.cgiTimeoutMs !== after.cgiTimeoutMs || before.cgiMaxProcesses !== after.cgiMaxProcesses || before.maxBodyBytes !== after.maxBodyBytes;
}

/** Keys read once at start-up: a reload that changes one of them says a restart is needed (logLevel is applied by main). */
export const RESTART_KEYS: readonly (keyof WebConfig)[] = [
  'host', 'port', 'root', 'dynamic', 'dynamicPrefixes', 'workers', 'cgiDir', 'databaseUrl', 'staticIndex', 'listingDirs',
  'cacheControl', 'followOutsideSymlinks', 'staticCacheMaxBytes', 'staticCacheMaxFileBytes', 'staticStatTtlMs',
];
