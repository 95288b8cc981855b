/** What a view receives: the request, its route parameters, and the application's dependencies. */
import type { AppRequest, AppResponse } from '../../common/app-interface.js';
import type { Logger } from '../../common/logger.js';
import type { ParamValue, Resolution, RouteEntry, RouteParams } from '../router/index.js';
import type { Store } from '../store/types.js';
import type { Csrf } from './csrf.js';
import type { JobRunner } from './jobs/runner.js';
import type { LiveHub } from './live/hub.js';

export interface AppDeps {
  readonly store: Store;
  readonly logger: Logger;
  /** Bearer token required for article writes; undefined when writes are open. */
  readonly appToken: string | undefined;
  readonly workerPid: number;
  /** The largest article body in bytes of UTF-8 (validation.ts); more is 400 on `body`. */
  readonly maxArticleBodyBytes: number;
  /** The CSRF signer, created from the store's shared secret on first use. */
  csrf(): Promise<Csrf>;
  /** Path of a named route (see routes.ts). */
  reverse(name: string, params?: Readonly<Record<string, ParamValue>>): string;
  /** What the URL table decides for a request, without calling a view (Django's resolve()). */
  resolve(method: string, target: string): Resolution<View>;
  /** The URL table in the order it is tried. */
  routes(): readonly RouteEntry[];
  /** Runs report jobs (202) from the store. */
  readonly jobs: JobRunner;
  /** The pause between two steps of a report job. */
  readonly reportStepDelayMs: number;
  /** The live feed (article events); absent where no connection outlives a request (CGI). */
  readonly live?: LiveHub | undefined;
}

export interface ViewContext {
  readonly request: AppRequest;
  readonly params: RouteParams;
  /** The path as received (percent-encoded). */
  readonly rawPath: string;
  readonly query: URLSearchParams;
  readonly deps: AppDeps;
}

export type View = (ctx: ViewContext) => Promise<AppResponse>;
