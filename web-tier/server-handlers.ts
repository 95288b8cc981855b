/**
 * Builds the handlers a request can end in (static, app, cgi) from the web tier's config, so
 * that `server.ts` builds them once at start-up and `reload()` builds a new proxy or CGI
 * gateway from a new config the same way.
 */
import type { Logger } from '../common/logger.js';
import { cgiEnabled, type WebConfig } from './config.js';
import type { RequestContext, RequestHandler } from './context.js';
import { sendError, TwotierError } from './error-response.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createCgiHandler } from './cgi/handler.js';
import { createProxyHandler, PROXY_DEFAULTS, type ProxyHandler, type ProxyOptions } from './proxy/handler.js';
import { createStaticHandler } from './static/handler.js';

/** The handlers a request can end in (health and operator are the server's own). */
export interface WebHandlers {
  readonly static: RequestHandler;
  /** Serves the dynamic prefixes: the proxy to the app tier (default) or the app embedded in-process. */
  readonly app: RequestHandler & {
    hasHealthyUpstream?(): boolean;
    /** A reload's new config for a handler built once (the embedded app): WEB_TRUSTED_PROXIES. */
    reconfigure?(config: Pick<WebConfig, 'trustedProxies'>): void;
  };
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
    streamBodyPrefixes: config.proxyStreamBodyPrefixes,
    bodyTempDir: config.proxyBodyTempDir,
    bodyTempMaxBytes: config.proxyBodyTempMaxBytes,
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

/** The script that runs the application (web-tier/cgi-bin/app → dist/app-tier/cgi-main.js). */
export const APP_SCRIPT = 'app';

/**
 * What cgi-bin/app alone gets from the server's config: the database (a postgres:// URL may carry
 * its password), the write token and the body bounds, so the app run as CGI enforces what the app
 * tier enforces (app-tier/cgi-main.ts reads them under the app tier's own names).
 */
export function appScriptEnv(config: WebConfig): Record<string, string> {
  return {
    DATABASE_URL: config.databaseUrl,
    ...(config.appToken === undefined ? {} : { APP_TOKEN: config.appToken }),
    APP_MAX_ARTICLE_BODY_BYTES: String(config.appMaxArticleBodyBytes),
    APP_MAX_REQUEST_BODY_BYTES: String(config.appMaxRequestBodyBytes),
  };
}

/** Answers 404 without running anything: the gateway when WEB_CGI is off (classify never routes here then). */
const CGI_OFF: RequestHandler = {
  handle: (_req, res, ctx) => sendError(res, ctx, new TwotierError('WEB_ERR_NOT_FOUND', 'the CGI gateway is off (WEB_CGI)')),
  close: async () => undefined,
};

export function buildCgi(config: WebConfig, logger: Logger, onLocalRedirect: Dispatch, hooks?: HandlerHooks): RequestHandler {
  if (!cgiEnabled(config)) return CGI_OFF;
  if (config.appToken === undefined) {
    // Not an error (the teaching setup runs without a token), but the operator should know.
    logger.warn({ component: 'cgi', script: `/cgi-bin/${APP_SCRIPT}` }, 'CGI gateway on and no APP_TOKEN: writes through cgi-bin/app are not authenticated (set APP_TOKEN as for the app tier)');
  }
  return createCgiHandler({
    cgiDir: config.cgiDir,
    timeoutMs: config.cgiTimeoutMs,
    maxProcesses: config.cgiMaxProcesses,
    maxBodyBytes: config.maxBodyBytes,
    serverSoftware: 'twotier',
    passEnv: {},
    scriptEnv: { [APP_SCRIPT]: appScriptEnv(config) },
    documentRoot: config.root,
    trustedProxies: config.trustedProxies,
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
  return before.cgiTimeoutMs !== after.cgiTimeoutMs || before.cgiMaxProcesses !== after.cgiMaxProcesses || before.maxBodyBytes !== after.maxBodyBytes
    || before.trustedProxies.join() !== after.trustedProxies.join();
}

/** Keys read once at start-up: a reload that changes one of them says a restart is needed (logLevel is applied by main). */
export const RESTART_KEYS: readonly (keyof WebConfig)[] = [
  // cgi, appToken and the app's body bounds: the gateway and the embedded app are built once with them.
  'host', 'port', 'root', 'dynamic', 'dynamicPrefixes', 'workers', 'cgi', 'cgiDir', 'databaseUrl', 'appToken', 'appMaxArticleBodyBytes', 'appMaxRequestBodyBytes', 'staticIndex', 'listingDirs',
  'cacheControl', 'followOutsideSymlinks', 'staticCacheMaxBytes', 'staticCacheMaxFileBytes', 'staticStatTtlMs',
];
