/**
 * The body bounds of the application run as CGI: APP_MAX_ARTICLE_BODY_BYTES and
 * APP_MAX_REQUEST_BODY_BYTES, and its report-job settings (APP_JOB_RETENTION_SEC,
 * APP_JOB_MAX_PENDING, APP_REPORT_STEP_DELAY_MS), which the gateway sets for cgi-bin/app from the web tier's config
 * (web-tier/server-handlers.ts appScriptEnv), read under the app tier's names and rules so the
 * three modes answer alike (400 naming `body`, 413).
 */
import type { Env } from '../common/config.js';
import { DEFAULT_REPORT_STEP_DELAY_MS } from './app/create-app.js';
import { DEFAULT_JOB_MAX_PENDING, DEFAULT_JOB_RETENTION_SEC, MAX_JOB_RETENTION_SEC } from './app/jobs/retention.js';
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

export interface JobSettings {
  readonly reportStepDelayMs: number;
  readonly jobRetentionSec: number;
  readonly jobMaxPending: number;
}

/** Each variable, its createApp option, its default and its largest value (the app tier's bounds). */
const JOB_SETTINGS = [
  { name: 'APP_REPORT_STEP_DELAY_MS', key: 'reportStepDelayMs', fallback: DEFAULT_REPORT_STEP_DELAY_MS, max: Number.MAX_SAFE_INTEGER },
  { name: 'APP_JOB_RETENTION_SEC', key: 'jobRetentionSec', fallback: DEFAULT_JOB_RETENTION_SEC, max: MAX_JOB_RETENTION_SEC },
  { name: 'APP_JOB_MAX_PENDING', key: 'jobMaxPending', fallback: DEFAULT_JOB_MAX_PENDING, max: Number.MAX_SAFE_INTEGER },
] as const;

/** A plain non-negative decimal that is a safe integer (0 is meaningful for all three). */
const PLAIN_OR_ZERO = /^(0|[1-9]\d{0,14})$/;

/**
 * The report-job settings the gateway wrote, as readBodyLimits reads the bounds: a value the
 * gateway writes (unset, or a plain decimal within the app tier's bound) is taken as it is;
 * anything else goes to the app tier's loadConfig, which accepts it or throws its ConfigError.
 */
export async function readJobSettings(env: Env): Promise<JobSettings> {
  const values: Partial<Record<(typeof JOB_SETTINGS)[number]['key'], number>> = {};
  for (const { name, key, fallback, max } of JOB_SETTINGS) {
    const raw = env[name];
    if (raw === undefined || raw === '') values[key] = fallback;
    else if (PLAIN_OR_ZERO.test(raw) && Number(raw) <= max) values[key] = Number(raw);
  }
  const { reportStepDelayMs, jobRetentionSec, jobMaxPending } = values;
  if (reportStepDelayMs !== undefined && jobRetentionSec !== undefined && jobMaxPending !== undefined) return { reportStepDelayMs, jobRetentionSec, jobMaxPending };
  const { loadConfig } = await import('./config.js');
  const config = loadConfig(undefined, Object.fromEntries(JOB_SETTINGS.map(({ name }) => [name, env[name]])));
  return { reportStepDelayMs: config.reportStepDelayMs, jobRetentionSec: config.jobRetentionSec, jobMaxPending: config.jobMaxPending };
}
