/**
 * createApp(): the application behind the project's application interface. One request value
 * in, one response value out; the same object runs in a cluster worker, in a CGI process per
 * request and embedded in the web tier. Nothing here depends on an earlier request except
 * through the store (the CSRF secret too lives there), and nothing is logged per request: the
 * adapter writes the access line.
 */
import { randomBytes } from 'node:crypto';
import type { AppRequest, AppResponse, Application } from '../../common/app-interface.js';
import { TwotierError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { createRouter } from '../router/index.js';
import type { Store } from '../store/types.js';
import type { AppDeps } from './context.js';
import { createCsrf, type Csrf } from './csrf.js';
import { errorResponse, internalErrorResponse, notFoundResponse, toTwotierError } from './error-response.js';
import { createJobRunner } from './jobs/runner.js';
import type { LiveHub } from './live/hub.js';
import { liveSocket } from './live/socket.js';
import { WORD_COUNT, wordCount } from './jobs/word-count.js';
import { assertBodyWithin, DEFAULT_MAX_REQUEST_BODY_BYTES } from './request-body.js';
import { finalise, noContent, redirect } from './responses.js';
import { appRoutes } from './routes.js';
import { DEFAULT_MAX_ARTICLE_BODY_BYTES } from './validation.js';

export interface CreateAppOptions {
  store: Store;
  logger: Logger;
  /** APP_TOKEN: when set, article writes need Authorization: Bearer <token>. */
  appToken?: string | undefined;
  /** Adds GET /api/_fault/throw, which throws (for the 500 test); off by default. */
  faultRoutes?: boolean;
  /** What the echo reports as worker.pid; process.pid by default. */
  worker?: { pid: number } | undefined;
  /** APP_MAX_ARTICLE_BODY_BYTES: the largest article body (UTF-8 bytes); DEFAULT_MAX_ARTICLE_BODY_BYTES (64 KiB) by default. */
  maxArticleBodyBytes?: number | undefined;
  /** APP_MAX_REQUEST_BODY_BYTES: a larger request body is 413; DEFAULT_MAX_REQUEST_BODY_BYTES (1 MiB) by default. */
  maxRequestBodyBytes?: number | undefined;
  /** APP_DEBUG: a 404 the URL table gives lists the patterns it tried (Django's DEBUG = True). Off by default. */
  debug?: boolean | undefined;
  /** APP_REPORT_STEP_DELAY_MS: the pause between two steps of a report job; DEFAULT_REPORT_STEP_DELAY_MS by default. */
  reportStepDelayMs?: number | undefined;
  /** How long a step of a job may run before another process may take the job over; DEFAULT_JOB_LEASE_MS by default. */
  jobLeaseMs?: number | undefined;
  /**
   * The live feed: article writes publish to it, /api/live and /api/articles/events read it. The
   * adapter that holds connections creates it (with its transport) and passes it; absent (CGI):
   * nothing is published, and the SSE endpoint answers a stream that asks to reconnect.
   */
  live?: LiveHub | undefined;
}

/** A report (four steps at least) takes about two seconds: long enough to watch its 200s, short enough to wait for. */
export const DEFAULT_REPORT_STEP_DELAY_MS = 500;
export const DEFAULT_JOB_LEASE_MS = 5_000;

/** The store setting that holds the CSRF signing secret, shared by every process. */
export const CSRF_SECRET_SETTING = 'csrf-secret';

export function createApp(options: CreateAppOptions): Application {
  const { store, logger } = options;
  const router = createRouter(appRoutes({ faultRoutes: options.faultRoutes === true }));
  // Defaults here, so every adapter (worker, CGI, embedded) gets the same bounds unasked.
  const maxRequestBodyBytes = options.maxRequestBodyBytes ?? DEFAULT_MAX_REQUEST_BODY_BYTES;

  const workerPid = options.worker?.pid ?? process.pid;
  const reportStepDelayMs = options.reportStepDelayMs ?? DEFAULT_REPORT_STEP_DELAY_MS;
  const jobs = createJobRunner({
    store, logger, kinds: { [WORD_COUNT]: wordCount }, stepDelayMs: reportStepDelayMs, leaseMs: options.jobLeaseMs ?? DEFAULT_JOB_LEASE_MS, pid: workerPid,
  });

  let csrf: Promise<Csrf> | undefined;
  const deps: AppDeps = {
    store,
    logger,
    appToken: options.appToken,
    workerPid,
    maxArticleBodyBytes: options.maxArticleBodyBytes ?? DEFAULT_MAX_ARTICLE_BODY_BYTES,
    csrf() {
      if (csrf === undefined) {
        const loading = store
          .getOrCreateSetting(CSRF_SECRET_SETTING, () => randomBytes(32).toString('hex'))
          .then((secret) => createCsrf({ secret }));
        // A failed read (database briefly unavailable) is retried by the next request.
        loading.catch(() => {
          if (csrf === loading) csrf = undefined;
        });
        csrf = loading;
      }
      return csrf;
    },
    reverse: (name, params) => router.reverse(name, params),
    resolve: (method, target) => router.resolve(method, target),
    routes: () => router.entries(),
    jobs,
    reportStepDelayMs,
    live: options.live,
  };

  async function dispatch(request: AppRequest): Promise<AppResponse> {
    assertBodyWithin(request.body, maxRequestBodyBytes);
    const resolution = router.resolve(request.method, request.target);
    switch (resolution.kind) {
      case 'match':
        return resolution.handler({
          request,
          params: resolution.params,
          rawPath: resolution.rawPath,
          query: new URLSearchParams(resolution.search),
          deps,
        });
      case 'redirect':
        return redirect(resolution.status, resolution.location);
      case 'options':
        return noContent({ Allow: resolution.allow });
      case 'method-not-allowed':
        // RFC 9110 §15.5.6: a 405 MUST carry Allow.
        throw new TwotierError('APP_ERR_METHOD_NOT_ALLOWED', `${request.method} is not allowed here; allowed: ${resolution.allow}`, {
          headers: { Allow: resolution.allow },
        });
      case 'not-found':
        if (options.debug === true) return notFoundResponse(request, router.entries());
        throw new TwotierError('APP_ERR_NOT_FOUND', 'there is nothing at this address');
      case 'bad-request':
        throw new TwotierError('APP_ERR_BAD_REQUEST', resolution.error.message, { cause: resolution.error });
    }
  }

  let closed: Promise<void> | undefined;
  return {
    async handle(request) {
      let response: AppResponse;
      try {
        response = await dispatch(request);
      } catch (error) {
        const known = toTwotierError(error);
        response = known === null ? internalErrorResponse(request, error, logger) : errorResponse(request, known, logger);
      }
      return finalise(request.method, response);
    },
    async websocket(request, socket) {
      const resolution = router.resolve('GET', request.target);
      if (resolution.kind === 'match' && resolution.routeName === 'live' && options.live !== undefined) {
        await liveSocket(options.live, request, socket, logger, workerPid);
        return;
      }
      await socket.reject(finalise('GET', errorResponse(request, new TwotierError('APP_ERR_NOT_FOUND', 'there is no WebSocket endpoint at this address'), logger)));
    },
    close() {
      // Job timers first: a step still running finishes (and frees its lease) before the store closes.
      closed ??= jobs.close().then(() => store.close());
      return closed;
    },
  };
}
