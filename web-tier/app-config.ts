/**
 * The app run inside this tier (embedded mode, and cgi-bin/app through the CGI gateway): its
 * database, write token and body bounds, under the app tier's own variable names and defaults,
 * so the same bounds hold in all three modes. Validated once by web-tier/config.ts.
 */
import { z } from 'zod';
import { fields, type Frozen } from '../common/config.js';
import { DEFAULTS as APP_TIER_DEFAULTS } from '../app-tier/config.js';
import { parseDatabaseUrl, type DatabaseLocation } from '../app-tier/store/database-url.js';

export const appSchema = z.object({
  /** DATABASE_URL, handed to the embedded app and to cgi-bin/app (never the whole server env). */
  databaseUrl: z.string({ error: 'must be a database URL such as sqlite:./data/twotier.db' }).min(1, 'must be a database URL'),
  /**
   * APP_TOKEN, the app tier's write token, for the app run here: handed to the embedded app's
   * factory and to cgi-bin/app only (never to other scripts, never derived from a request).
   */
  token: z.string({ error: 'must be a non-empty string' }).min(1, 'must be a non-empty string').optional(),
  /** APP_MAX_ARTICLE_BODY_BYTES: an article body past it is 400 naming `body`, in every mode alike. */
  maxArticleBodyBytes: fields.positiveInt('a positive number of bytes'),
  /** APP_MAX_REQUEST_BODY_BYTES: a request body past it is 413, in every mode alike. */
  maxRequestBodyBytes: fields.positiveInt('a positive number of bytes'),
  /**
   * APP_MODULE, the app tier's variable: the application embedded mode and cgi-bin/app run (a path,
   * relative to the working directory, or a package name); the built-in articles app when absent.
   */
  module: z.string({ error: 'must be a module path or package name' }).min(1, 'must be a module path or package name').optional(),
  /** APP_MODULE_TIMEOUT_MS: how long importing APP_MODULE plus its createApp may take. */
  moduleTimeoutMs: fields.positiveInt('a positive number of milliseconds'),
}).strict();

export type AppConfig = Frozen<z.infer<typeof appSchema>>;

export const APP_DEFAULTS: AppConfig = Object.freeze({
  databaseUrl: 'sqlite:./data/twotier.db',
  maxArticleBodyBytes: APP_TIER_DEFAULTS.maxArticleBodyBytes,
  maxRequestBodyBytes: APP_TIER_DEFAULTS.maxRequestBodyBytes,
  moduleTimeoutMs: APP_TIER_DEFAULTS.appModuleTimeoutMs,
});

export interface AppConfigProblem {
  readonly key: string;
  readonly message: string;
  readonly cause?: unknown;
}

/**
 * The section's own rules, checked after validation. `sources` names the env var a value came
 * from, so the error names what the operator set. `appRunsHere`: embedded, or the CGI gateway on.
 */
export function checkApp(app: AppConfig, options: { readonly requestBodyKey: string; readonly appRunsHere: boolean; readonly cgiApp: boolean }): AppConfigProblem | undefined {
  if (app.maxRequestBodyBytes < app.maxArticleBodyBytes) {
    // The app tier's own rule (app-tier/config.ts), so a setting it refuses is refused here too.
    const key = options.requestBodyKey;
    return { key, message: `${key}: must be at least appMaxArticleBodyBytes (${app.maxArticleBodyBytes}), or no article of the largest size could be sent, got ${app.maxRequestBodyBytes}` };
  }
  if (!options.appRunsHere) return undefined;
  // The app runs in this tier: a DATABASE_URL it cannot use stops start-up with the app tier's
  // own message (a postgres password redacted) instead of a 503 per request.
  let location: DatabaseLocation;
  try {
    location = parseDatabaseUrl(app.databaseUrl);
  } catch (error) {
    return { key: 'DATABASE_URL', message: `DATABASE_URL: ${(error as Error).message}`, cause: error };
  }
  if (location.kind === 'sqlite-memory' && options.cgiApp) {
    return { key: 'DATABASE_URL', message: 'DATABASE_URL: sqlite::memory: cannot serve WEB_DYNAMIC=cgi (every CGI process would open its own empty database); name a file or a postgres:// URL' };
  }
  return undefined;
}

/** The flat config-file keys used before the sections (issue 14) → their place in this one. */
export const APP_FORMER_KEYS: Readonly<Record<string, string>> = {
  databaseUrl: 'databaseUrl', appToken: 'token', appMaxArticleBodyBytes: 'maxArticleBodyBytes', appMaxRequestBodyBytes: 'maxRequestBodyBytes',
};
