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
import { resolveAppModuleSpec } from '../common/app-module.js';
import { createCgiHandler } from './cgi/handler.js';
import { createProxyHandler, type ProxyHandler } from './proxy/handler.js';
import type { ProxyHandlerConfig } from './proxy/config.js';
import { createRoutedProxy } from './proxy/routed.js';
import { createStaticHandler } from './static/handler.js';

/** The handlers a request can end in (health and operator are the server's own). */
export interface WebHandlers {
  readonly static: RequestHandler;
  /** Serves the dynamic prefixes: the proxy to the app tier (default) or the app embedded in-process. */
  readonly app: RequestHandler & {
    hasHealthyUpstream?(): boolean;
    /** A reload's new config for a handler built once (the embedded app): WEB_TRUSTED_PROXIES. */
    reconfigure?(config: { readonly server: Pick<WebConfig['server'], 'trustedProxies'> }): void;
  };
  readonly cgi: RequestHandler;
}

export type Dispatch = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => void;

/** What the proxy takes: its section, plus the body limit and trusted peers it enforces too. */
export function proxyOptions(config: WebConfig): ProxyHandlerConfig {
  return { ...config.proxy, maxBodyBytes: config.limits.maxBodyBytes, trustedProxies: config.server.trustedProxies };
}

/** `instanceToken`: the deployment's (proxy/loop-guard.ts), the same for every group and every rebuild. */
export function buildProxy(config: WebConfig, logger: Logger, instanceToken: string): ProxyHandler {
  const proxy = createProxyHandler({ ...proxyOptions(config), instanceToken, logger: logger.child({ component: 'proxy' }) });
  if (config.routes.length === 0) return proxy;
  // WEB_ROUTES: each route a whole proxy of its own over its group (proxy/routed.ts); same settings, own pool.
  return createRoutedProxy(proxy, config.routes.map(({ prefix, upstreams }) => ({
    prefix,
    handler: createProxyHandler({ ...proxyOptions(config), upstreams, instanceToken, setting: { setting: 'WEB_ROUTES', route: prefix }, logger: logger.child({ component: 'proxy', group: prefix }) }),
  })));
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
    DATABASE_URL: config.app.databaseUrl,
    ...(config.app.token === undefined ? {} : { APP_TOKEN: config.app.token }),
    APP_MAX_ARTICLE_BODY_BYTES: String(config.app.maxArticleBodyBytes),
    APP_MAX_REQUEST_BODY_BYTES: String(config.app.maxRequestBodyBytes),
    // Absolute: the script runs from the package root (cgi-bin/app), not from this tier's directory.
    ...(config.app.module === undefined ? {} : { APP_MODULE: resolveAppModuleSpec(config.app.module, process.cwd()), APP_MODULE_TIMEOUT_MS: String(config.app.moduleTimeoutMs) }),
  };
}

/** Answers 404 without running anything: the gateway when WEB_CGI is off (classify never routes here then). */
const CGI_OFF: RequestHandler = {
  handle: (_req, res, ctx) => sendError(res, ctx, new TwotierError('WEB_ERR_NOT_FOUND', 'the CGI gateway is off (WEB_CGI)')),
  close: async () => undefined,
};

export function buildCgi(config: WebConfig, logger: Logger, onLocalRedirect: Dispatch, hooks?: HandlerHooks): RequestHandler {
  if (!cgiEnabled(config)) return CGI_OFF;
  if (config.app.token === undefined) {
    // Not an error (the teaching setup runs without a token), but the operator should know.
    logger.warn({ component: 'cgi', script: `/cgi-bin/${APP_SCRIPT}` }, 'CGI gateway on and no APP_TOKEN: writes through cgi-bin/app are not authenticated (set APP_TOKEN as for the app tier)');
  }
  return createCgiHandler({
    dir: config.cgi.dir,
    timeoutMs: config.cgi.timeoutMs,
    maxProcesses: config.cgi.maxProcesses,
    maxBodyBytes: config.limits.maxBodyBytes,
    serverSoftware: 'twotier',
    passEnv: {},
    scriptEnv: { [APP_SCRIPT]: appScriptEnv(config) },
    documentRoot: config.static.root,
    trustedProxies: config.server.trustedProxies,
    onLocalRedirect,
    ...(hooks === undefined ? {} : { onSpawn: hooks.onCgiSpawn, onExit: hooks.onCgiExit }),
    logger: logger.child({ component: 'cgi' }),
  });
}

export function buildStatic(config: WebConfig, logger: Logger, hooks?: HandlerHooks): RequestHandler {
  return createStaticHandler({
    ...config.static,
    ...(hooks === undefined ? {} : { onCacheLookup: hooks.onStaticCacheLookup }),
    logger: logger.child({ component: 'static' }),
  });
}

/** Whether a reload needs a new proxy handler (the upstream pools live in it): its whole input, routes included, compared. */
export function proxyKeysChanged(before: WebConfig, after: WebConfig): boolean {
  return JSON.stringify([proxyOptions(before), before.routes]) !== JSON.stringify([proxyOptions(after), after.routes]);
}

/** Whether a reload needs a new CGI gateway: its section, the body limit or the trusted peers changed. */
export function cgiKeysChanged(before: WebConfig, after: WebConfig): boolean {
  return JSON.stringify([before.cgi, before.limits.maxBodyBytes, before.server.trustedProxies]) !== JSON.stringify([after.cgi, after.limits.maxBodyBytes, after.server.trustedProxies]);
}
