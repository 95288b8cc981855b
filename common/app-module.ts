/**
 * APP_MODULE: the application an operator names (gunicorn's `module:app`), loaded the same way by
 * every adapter (persistent worker, CGI, embedded). Every way it can fail is one start-up error
 * with one line naming the module and what is wrong: not found, no default export, an export of
 * the wrong shape, createApp throwing or rejecting (its message), or never finishing (a timeout).
 * The Application it returns is wrapped (app-guard.ts) so that one request's failure is that
 * request's 500, never the process's.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AppContext, Application } from './app-interface.js';
import { guardApplication } from './app-guard.js';

export type AppModuleErrorCode =
  | 'APP_MODULE_NOT_FOUND'
  | 'APP_MODULE_LOAD_FAILED'
  | 'APP_MODULE_NO_DEFAULT_EXPORT'
  | 'APP_MODULE_BAD_EXPORT'
  | 'APP_MODULE_CREATE_FAILED'
  | 'APP_MODULE_BAD_APPLICATION'
  | 'APP_MODULE_TIMEOUT';

export class AppModuleError extends Error {
  readonly code: AppModuleErrorCode;
  constructor(code: AppModuleErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AppModuleError';
    this.code = code;
  }
}

/** How long importing the module and createApp together may take, unless the tier's config says. */
export const DEFAULT_APP_MODULE_TIMEOUT_MS = 10_000;

/** A path (./app.js, ../x, /abs/app.js, C:\\…) rather than a package name. */
function isPath(spec: string): boolean {
  return spec.startsWith('.') || isAbsolute(spec);
}

/**
 * The module's absolute path for a path spec (against baseDir: the tier's working directory, as
 * gunicorn resolves `module:app` from where it runs); a file: URL or package name as it is. The
 * web tier hands this form to cgi-bin/app, which runs from the package root, not the web tier's cwd.
 */
export function resolveAppModuleSpec(spec: string, baseDir: string): string {
  return isPath(spec) ? resolve(baseDir, spec) : spec;
}

/** What import() gets: a file URL for a path, else the package resolved from baseDir (or from twotier itself). */
function importTarget(spec: string, baseDir: string): string {
  if (spec.startsWith('file:')) {
    if (!existsSync(new URL(spec))) throw new AppModuleError('APP_MODULE_NOT_FOUND', `APP_MODULE: cannot find ${spec}`);
    return spec;
  }
  if (isPath(spec)) {
    const path = resolve(baseDir, spec);
    if (!existsSync(path)) throw new AppModuleError('APP_MODULE_NOT_FOUND', `APP_MODULE: cannot find ${spec} (no file at ${path})`);
    return pathToFileURL(path).href;
  }
  // A package name: the operator's node_modules first (beside the working directory), then
  // twotier's own (an app installed into the deployment).
  try {
    return pathToFileURL(createRequire(resolve(baseDir, 'package.json')).resolve(spec)).href;
  } catch {
    try {
      return import.meta.resolve(spec);
    } catch (error) {
      throw new AppModuleError('APP_MODULE_NOT_FOUND', `APP_MODULE: cannot find package ${spec} (from ${baseDir} or twotier's node_modules)`, { cause: error });
    }
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'function') return 'a function';
  return typeof value === 'object' ? 'an object' : typeof value;
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? `${error.name === 'Error' ? '' : `${error.name}: `}${error.message}` : String(error);
  return text.split('\n', 1)[0] ?? '';
}

export interface LoadAppModuleOptions {
  /** APP_MODULE as the operator wrote it. */
  readonly spec: string;
  /** Where a relative path is resolved from (the tier's working directory). */
  readonly baseDir: string;
  readonly context: AppContext;
  /** Importing plus createApp; DEFAULT_APP_MODULE_TIMEOUT_MS when absent. */
  readonly timeoutMs?: number | undefined;
}

async function importAndCreate(spec: string, baseDir: string, context: AppContext): Promise<Application> {
  const target = importTarget(spec, baseDir);
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(target)) as Record<string, unknown>;
  } catch (error) {
    throw new AppModuleError('APP_MODULE_LOAD_FAILED', `APP_MODULE: ${spec} failed to load: ${firstLine(error)}`, { cause: error });
  }
  if (!('default' in namespace) || namespace['default'] === undefined) {
    throw new AppModuleError('APP_MODULE_NO_DEFAULT_EXPORT', `APP_MODULE: ${spec} has no default export; it must \`export default function createApp(context)\``);
  }
  const createApp = namespace['default'];
  if (typeof createApp !== 'function') {
    const hint = typeof createApp === 'object' && createApp !== null && typeof (createApp as { handle?: unknown }).handle === 'function'
      ? ' (an Application object: export a function that returns it)'
      : '';
    throw new AppModuleError('APP_MODULE_BAD_EXPORT', `APP_MODULE: ${spec}'s default export is ${describe(createApp)}, not a function createApp(context)${hint}`);
  }
  // Express and Connect apps, and http.createServer listeners, take (req, res[, next]): calling one
  // with a context would run a request through it. Two or more parameters is never createApp.
  if (createApp.length >= 2) {
    throw new AppModuleError('APP_MODULE_BAD_EXPORT', `APP_MODULE: ${spec}'s default export takes ${createApp.length} parameters, like a Node request listener (req, res); export \`(context) => fromNodeHandler(listener)\` instead`);
  }
  let app: unknown;
  try {
    app = await (createApp as (context: AppContext) => unknown)(context);
  } catch (error) {
    throw new AppModuleError('APP_MODULE_CREATE_FAILED', `APP_MODULE: createApp in ${spec} failed: ${firstLine(error)}`, { cause: error });
  }
  const candidate = app as { handle?: unknown; close?: unknown } | null | undefined;
  if (typeof candidate !== 'object' || candidate === null || typeof candidate.handle !== 'function' || (candidate.close !== undefined && typeof candidate.close !== 'function')) {
    const hint = typeof app === 'function' && app.length >= 2 ? ': it looks like a Node request listener (req, res); return fromNodeHandler(listener)' : '';
    throw new AppModuleError('APP_MODULE_BAD_APPLICATION', `APP_MODULE: createApp in ${spec} returned ${describe(app)}, not an Application { handle(request), close() }${hint}`);
  }
  return guardApplication(candidate as Partial<Application> & Pick<Application, 'handle'>, context.logger);
}

/** Imports APP_MODULE, calls its createApp(context), checks the result; rejects with AppModuleError. */
export function loadAppModule(options: LoadAppModuleOptions): Promise<Application> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_APP_MODULE_TIMEOUT_MS;
  return new Promise<Application>((resolvePromise, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      reject(new AppModuleError('APP_MODULE_TIMEOUT', `APP_MODULE: ${options.spec} did not finish loading (import and createApp) within ${timeoutMs} ms (APP_MODULE_TIMEOUT_MS)`));
    }, timeoutMs);
    importAndCreate(options.spec, options.baseDir, options.context).then(
      (app) => {
        clearTimeout(timer);
        // Built after the start-up already failed: nobody will use it, so release what it holds.
        if (timedOut) void app.close().catch(() => undefined);
        resolvePromise(app);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof AppModuleError ? error : new AppModuleError('APP_MODULE_LOAD_FAILED', `APP_MODULE: ${options.spec}: ${firstLine(error)}`, { cause: error }));
      },
    );
  });
}
