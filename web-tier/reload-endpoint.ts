/**
 * `POST /-/reload`: the operator's button for what SIGHUP does (re-read and apply the config).
 * Reached only by peers in operatorAllow under an operator Host (server.ts checks both first:
 * the Host check stops a page on a DNS-rebinding name, which is same-origin and so needs no
 * preflight). It also needs the header `X-Twotier-Reload: 1`: a custom header makes a browser
 * send a CORS preflight, which this server never approves, so a page of another origin cannot
 * trigger a reload through a visitor's browser.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestContext } from './context.js';
import { sendError, TwotierError } from './error-response.js';

export const RELOAD_PATH = '/-/reload';

export type ReloadOutcome =
  | { readonly ok: true; readonly applied: readonly string[]; readonly needRestart: readonly string[] }
  /** Clustered: the primary was asked to pass SIGHUP to every worker; each logs its own result. */
  | { readonly ok: true; readonly forwarded: true }
  | { readonly ok: false; readonly key: string; readonly reason: string };

export type OnReloadRequest = () => Promise<ReloadOutcome>;

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(text);
}

export function handleReload(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, onReload: OnReloadRequest | undefined): void {
  ctx.servedBy = 'web';
  if (onReload === undefined) {
    sendError(res, ctx, new TwotierError('WEB_ERR_NOT_FOUND', 'no reload without an entry point'));
    return;
  }
  if (req.method !== 'POST') {
    // RFC 9110 §15.5.6: a 405 carries Allow.
    sendError(res, ctx, new TwotierError('WEB_ERR_METHOD_NOT_ALLOWED', 'reload is POST only', { headers: { Allow: 'POST' } }));
    return;
  }
  if (req.headers['x-twotier-reload'] !== '1') {
    sendError(res, ctx, new TwotierError('WEB_ERR_FORBIDDEN', 'reload needs X-Twotier-Reload: 1'));
    return;
  }
  req.resume();
  onReload().then(
    (outcome) => {
      if (!outcome.ok) json(res, 400, { error: { status: 400, code: 'CONFIG_INVALID', key: outcome.key, message: outcome.reason, requestId: ctx.requestId } });
      else if ('forwarded' in outcome) json(res, 202, { reloading: 'all workers' });
      else json(res, 200, { reloaded: true, applied: outcome.applied, needRestart: outcome.needRestart });
    },
    (error: unknown) => {
      ctx.logger.error({ err: error }, 'reload failed');
      sendError(res, ctx, new TwotierError('WEB_ERR_INTERNAL', 'reload failed', { cause: error }));
    },
  );
}
