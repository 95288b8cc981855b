/**
 * The body bounds of the application run as CGI: APP_MAX_ARTICLE_BODY_BYTES and
 * APP_MAX_REQUEST_BODY_BYTES, which the gateway sets for cgi-bin/app from the web tier's config
 * (web-tier/server-handlers.ts appScriptEnv), read under the app tier's names and rules so the
 * three modes answer alike (400 naming `body`, 413).
 */
import type { Env } from '../common/config.js';
import { DEFAULT_MAX_REQUEST_BODY_BYTES } from './app/request-body.js';
import { DEFAULT_MAX_ARTICLE_BODY_BYTES } from './app/validation.js';

export interface BodyLimits {
  readonly maxArticleBodyBytes: number;
  readonly maxRequestBodyBytes: number;
}

const NAMES = ['APP_MAX_ARTICLE_BODY_BYTES', 'APP_MAX_REQUEST_BODY_BYTES'] as const;

/** A plain positive decimal that is a safe integer: what the gateway writes (String of a validated number). */
const PLAIN = /^[1-9]\d{0,14}$/;

/**
 * The gateway's values, validated by the app tier's own loadConfig. One CGI process per request
 * pays every import: app-tier/config.ts brings zod (about 120-180 ms more per request, measured
 * by importing dist/app-tier/config.js after the app). So values the gateway writes (unset, or a
 * plain positive decimal, request ≥ article) are taken as they are; only anything else loads the
 * app tier's config, which accepts it or throws its ConfigError naming the variable. Both paths
 * give the same result for the same input.
 */
export async function readBodyLimits(env: Env): Promise<BodyLimits> {
  const [article, request] = NAMES.map((name) => env[name]);
  const plain = (raw: string | undefined): boolean => raw === undefined || raw === '' || PLAIN.test(raw);
  if (plain(article) && plain(request)) {
    const limits = {
      maxArticleBodyBytes: article === undefined || article === '' ? DEFAULT_MAX_ARTICLE_BODY_BYTES : Number(article),
      maxRequestBodyBytes: request === undefined || request === '' ? DEFAULT_MAX_REQUEST_BODY_BYTES : Number(request),
    };
    if (limits.maxRequestBodyBytes >= limits.maxArticleBodyBytes) return limits;
  }
  const { loadConfig } = await import('./config.js');
  const config = loadConfig(undefined, Object.fromEntries(NAMES.map((name) => [name, env[name]])));
  return { maxArticleBodyBytes: config.maxArticleBodyBytes, maxRequestBodyBytes: config.maxRequestBodyBytes };
}
