/**
 * The CGI gateway (RFC 3875), like Python's CGIHTTPRequestHandler or nginx + fcgiwrap: each
 * `/cgi-bin/NAME[/extra/path][?query]` request starts a new process running NAME from the CGI
 * directory. The roles are split: resolve-script (which file, safely), request-body (bounded
 * stdin), meta-variables (the environment), spawn-script (process group, deadline, stderr),
 * pump-output (stdout → response). This file orders them and enforces the process cap.
 *
 * Left out on purpose: non-parsed-header (`nph-`) scripts (RFC 3875 §5, a MAY; they would write
 * HTTP/1.1 framing themselves past our limits) and the ISINDEX command line (§4.4, a MAY that
 * Apache and nginx also skip): scripts get no arguments.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import { TwotierError, isTwotierError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { RequestContext, RequestHandler } from '../context.js';
import { sendError } from '../error-response.js';
import type { LimitsConfig } from '../limits-config.js';
import { normalizeAddress } from '../proxy/headers.js';
import type { ServerConfig } from '../server-config.js';
import type { CgiConfig } from './config.js';
import { buildChildEnv, buildMetaVariables } from './meta-variables.js';
import { pumpOutput } from './pump-output.js';
import { ClientGoneError, readRequestBody } from './request-body.js';
import { CGI_PREFIX, defaultDocumentRoot, resolveScript, type ResolvedScript } from './resolve-script.js';
import { spawnScript, type ScriptRun } from './spawn-script.js';

/**
 * The cgi section (cgi/config.ts, validated once; `enabled` is the caller's decision) and the
 * body limit (limits section), plus what the server wires in.
 */
export type CgiOptions = Omit<CgiConfig, 'enabled'> & Pick<LimitsConfig, 'maxBodyBytes'> & {
  /** SERVER_SOFTWARE, e.g. 'twotier'. */
  serverSoftware: string;
  /** Environment given to every script besides PATH and the meta-variables: nothing secret belongs here. */
  passEnv: Readonly<Record<string, string>>;
  /**
   * Environment for one named script only (key: the NAME in /cgi-bin/NAME), over passEnv: how
   * cgi-bin/app gets DATABASE_URL and APP_TOKEN from the server's own config while hello.sh, or
   * a script that prints its environment, sees neither. Never filled from a request.
   */
  scriptEnv?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Where PATH_TRANSLATED points into; default <package root>/web-tier/public. */
  documentRoot?: string;
  /**
   * Serves a local redirect (RFC 3875 §6.2.2) to a path outside /cgi-bin/ (the server's
   * classify-and-dispatch). Without it such a redirect is answered as a 302 to that path.
   */
  onLocalRedirect?: (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => void;
  /**
   * WEB_TRUSTED_PROXIES: peers whose X-Forwarded-For/-Proto every script sees kept, as the proxy
   * keeps them (proxy/headers.ts). Default none: the edge fields are the gateway's own.
   */
  trustedProxies?: ServerConfig['trustedProxies'];
  /** Called when a script process is started (operator metrics count spawns). */
  onSpawn?: () => void;
  /**
   * Called once per started script when it is gone: failed = it could not be started, exited
   * non-zero, or was killed (deadline, client gone, shutdown).
   */
  onExit?: (failed: boolean) => void;
};

/** A script redirecting to itself must not loop forever (Apache stops at LimitInternalRecursion = 10). */
const MAX_LOCAL_REDIRECTS = 10;
const MAX_STDERR_BYTES = 64 * 1024;
const RETRY_AFTER_SECONDS = '1';

interface Target {
  readonly script: ResolvedScript;
  readonly method: string;
  readonly body: Buffer | undefined;
  readonly query: string;
  readonly requestUri: string;
}

function splitLocation(location: string): { pathname: string; search: string } {
  const hash = location.indexOf('#');
  const withoutFragment = hash === -1 ? location : location.slice(0, hash);
  const question = withoutFragment.indexOf('?');
  return question === -1
    ? { pathname: withoutFragment, search: '' }
    : { pathname: withoutFragment.slice(0, question), search: withoutFragment.slice(question) };
}

export function createCgiHandler(options: CgiOptions & { logger: Logger }): RequestHandler {
  const documentRoot = options.documentRoot ?? defaultDocumentRoot();
  const scriptEnv = options.scriptEnv ?? {};
  const trustedProxies = new Set((options.trustedProxies ?? []).map((address) => normalizeAddress(address)));

  function envFor(script: ResolvedScript): Readonly<Record<string, string>> {
    const name = script.scriptName.slice(CGI_PREFIX.length);
    // hasOwn: a script called `constructor` or `__proto__` must not pick up Object.prototype.
    return Object.hasOwn(scriptEnv, name) ? { ...options.passEnv, ...scriptEnv[name] } : options.passEnv;
  }
  const live = new Set<ScriptRun>();
  const inFlight = new Set<Promise<void>>();
  let closing = false;

  function start(req: IncomingMessage, ctx: RequestContext, target: Target): ScriptRun {
    if (closing) throw new TwotierError('WEB_ERR_UPSTREAM_UNAVAILABLE', 'CGI gateway is shutting down', { headers: { 'Retry-After': RETRY_AFTER_SECONDS } });
    if (live.size >= options.maxProcesses) {
      ctx.logger.warn({ live: live.size, max: options.maxProcesses }, 'cgi process cap reached');
      throw new TwotierError('WEB_ERR_OVERLOADED', 'too many CGI processes', { headers: { 'Retry-After': RETRY_AFTER_SECONDS } });
    }
    const meta = buildMetaVariables({
      req,
      method: target.method,
      scriptName: target.script.scriptName,
      pathInfo: target.script.pathInfo,
      query: target.query,
      requestUri: target.requestUri,
      contentLength: target.body?.length,
      documentRoot,
      serverSoftware: options.serverSoftware,
      requestId: ctx.requestId,
      trustedProxies,
    });
    const run = spawnScript({
      scriptPath: target.script.scriptPath,
      // RFC 3875 §7.2: the script runs in the directory that holds it.
      cwd: dirname(target.script.scriptPath),
      env: buildChildEnv(meta, envFor(target.script)),
      timeoutMs: options.timeoutMs,
      logger: ctx.logger,
      maxStderrBytes: MAX_STDERR_BYTES,
    });
    live.add(run);
    options.onSpawn?.();
    void run.closed.then((exit) => {
      live.delete(run);
      options.onExit?.(exit.spawnError !== undefined || exit.code !== 0);
    });
    ctx.logger.debug({ pid: run.child.pid, script: target.script.scriptName, live: live.size }, 'cgi script started');
    return run;
  }

  async function serve(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    const script = await resolveScript(options.dir, ctx.pathname);
    const body = await readRequestBody(req, options.maxBodyBytes);
    let target: Target = {
      script,
      method: req.method ?? 'GET',
      body,
      query: ctx.search.slice(1),
      requestUri: `${ctx.pathname}${ctx.search}`,
    };
    for (let redirects = 0; ; redirects += 1) {
      // The client may have left while its body was read or the previous run ended: start nothing for nobody.
      if (res.destroyed) return;
      const run = start(req, ctx, target);
      const redirect = await pumpOutput({ run, res, ctx, method: target.method, body: target.body });
      if (redirect === undefined) return;
      if (redirects >= MAX_LOCAL_REDIRECTS) {
        throw new TwotierError('WEB_ERR_UPSTREAM_BAD_RESPONSE', 'CGI local redirects loop');
      }
      const { pathname, search } = splitLocation(redirect.location);
      ctx.logger.debug({ location: redirect.location }, 'cgi local redirect');
      if (pathname.startsWith(CGI_PREFIX)) {
        // Apache's mod_cgi does the same: the redirected request is a GET without the body.
        target = {
          script: await resolveScript(options.dir, pathname),
          method: req.method === 'HEAD' ? 'HEAD' : 'GET',
          body: undefined,
          query: search.slice(1),
          requestUri: `${pathname}${search}`,
        };
        continue;
      }
      if (options.onLocalRedirect !== undefined) {
        options.onLocalRedirect(req, res, { ...ctx, pathname, search });
        return;
      }
      // No dispatcher to hand the path to: let the client fetch it (same origin: a path, never a host).
      res.writeHead(302, { Location: `${pathname}${search}`, 'Content-Length': '0', 'X-Request-Id': ctx.requestId });
      res.end();
      return;
    }
  }

  function fail(res: ServerResponse, ctx: RequestContext, error: unknown): void {
    if (error instanceof ClientGoneError) return;
    const clientError = isTwotierError(error)
      ? error
      : new TwotierError('WEB_ERR_UPSTREAM_BAD_RESPONSE', 'CGI gateway failed', { cause: error });
    if (!isTwotierError(error)) ctx.logger.error({ err: error }, 'cgi gateway failed');
    else if (clientError.status >= 500) ctx.logger.warn({ code: clientError.code }, 'cgi request failed');
    // A 413 leaves an unread body on the connection: close it rather than parse the body as a request.
    sendError(res, ctx, clientError, { close: clientError.code === 'WEB_ERR_BODY_TOO_LARGE' });
  }

  return {
    handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void {
      ctx.servedBy = 'cgi';
      res.setHeader('X-Served-By', 'cgi');
      const done = serve(req, res, ctx).catch((error: unknown) => fail(res, ctx, error));
      inFlight.add(done);
      void done.finally(() => inFlight.delete(done));
    },

    async close(): Promise<void> {
      closing = true;
      // Scripts already running are killed, not awaited: each could run up to the timeout.
      for (const run of live) run.killGroup();
      await Promise.allSettled([...inFlight, ...[...live].map((run) => run.closed)]);
      options.logger.debug('cgi gateway closed');
    },
  };
}
