/**
 * Entry point for the application run as a CGI program (`web-tier/cgi-bin/app` execs this):
 * one process per request, as the seed chapter describes CGI. Open the store, build the same
 * application the cluster workers run, answer the one request in the environment and on stdin,
 * close, exit. stdout is the CGI response, so every log line goes to stderr (the gateway logs
 * a script's stderr with the request id).
 */
import { pino } from 'pino';
import type { Application } from '../common/app-interface.js';
import { DEFAULT_APP_MODULE_TIMEOUT_MS, loadAppModule, type AppModuleError } from '../common/app-module.js';
import { createLogger, isLogLevel, type Logger } from '../common/logger.js';
import { createApp } from './app/create-app.js';
import { runCgi } from './cgi-adapter.js';
import { readBodyLimits, type BodyLimits } from './cgi-limits.js';
import { openStore } from './store/index.js';

const DEFAULT_DATABASE_URL = 'sqlite:./data/twotier.db';

/** When even the store cannot be opened there is no application to answer: say 503, like a worker would. */
function writeUnavailable(requestId: string | undefined): void {
  const body = JSON.stringify({ error: { status: 503, code: 'APP_ERR_STORE_UNAVAILABLE', message: 'Service Unavailable', requestId: requestId ?? null } });
  process.stdout.write(`Status: 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\nRetry-After: 1\r\n\r\n${body}`);
}

/**
 * A bound the gateway should never send (its config refuses it at start): no application can be
 * built with it, and answering with the default would hide the operator's setting. 500, the
 * reason on stderr (logged by the gateway with the request id).
 */
function writeMisconfigured(requestId: string | undefined): void {
  const body = JSON.stringify({ error: { status: 500, code: 'APP_ERR_INTERNAL', message: 'Internal Server Error', requestId: requestId ?? null } });
  process.stdout.write(`Status: 500 Internal Server Error\r\nContent-Type: application/json; charset=utf-8\r\n\r\n${body}`);
}

/** RFC 3875 §4.1 meta-variables (and the ones this gateway adds, like Apache): the request, not the operator's settings. */
const META_VARIABLE = /^(HTTP_.*|AUTH_TYPE|CONTENT_LENGTH|CONTENT_TYPE|GATEWAY_INTERFACE|PATH_INFO|PATH_TRANSLATED|QUERY_STRING|REMOTE_ADDR|REMOTE_HOST|REMOTE_IDENT|REMOTE_USER|REMOTE_PORT|REQUEST_METHOD|REQUEST_URI|SCRIPT_NAME|SCRIPT_FILENAME|DOCUMENT_ROOT|SERVER_ADDR|SERVER_NAME|SERVER_PORT|SERVER_PROTOCOL|SERVER_SOFTWARE|HTTPS)$/;

/** What the gateway's config gave this script (scriptEnv/passEnv), without the request's meta-variables. */
function operatorEnv(env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !META_VARIABLE.test(name)));
}

/** This process's one request: answered by `app`, which is closed after it. */
async function answerOnce(app: Application, env: NodeJS.ProcessEnv, logger: Logger): Promise<void> {
  try {
    await runCgi(app, env, process.stdin, process.stdout);
  } catch (error) {
    logger.error({ err: error }, 'cgi request failed');
    process.exitCode = 1;
  } finally {
    await app.close();
  }
  // stdin may still be open (a gateway need not send EOF, RFC 3875 §4.2): do not wait for it.
  process.stdin.destroy();
}

/**
 * APP_MODULE under CGI: the module the gateway names (its own config, in this script's env alone,
 * like APP_TOKEN and DATABASE_URL; never a request's value) loaded for this one request. A module
 * that cannot be loaded is this request's 500, its one line on stderr (the gateway logs it).
 */
async function runModule(spec: string, env: NodeJS.ProcessEnv, logger: Logger): Promise<void> {
  const timeout = Number(env['APP_MODULE_TIMEOUT_MS']);
  let app: Application;
  try {
    app = await loadAppModule({
      spec,
      baseDir: process.cwd(),
      context: { logger, env: operatorEnv(env), databaseUrl: env['DATABASE_URL'] ?? DEFAULT_DATABASE_URL, mode: 'cgi' },
      timeoutMs: Number.isInteger(timeout) && timeout > 0 ? timeout : DEFAULT_APP_MODULE_TIMEOUT_MS,
    });
  } catch (error) {
    logger.error({ err: error, code: (error as AppModuleError).code }, (error as Error).message);
    writeMisconfigured(env['HTTP_X_REQUEST_ID']);
    process.exitCode = 1;
    return;
  }
  await answerOnce(app, env, logger);
}

async function main(): Promise<void> {
  const env = process.env;
  const level = env['LOG_LEVEL'] !== undefined && isLogLevel(env['LOG_LEVEL']) ? env['LOG_LEVEL'] : 'warn';
  // Synchronous writes: the process exits right after answering, and async lines would be lost.
  const logger = createLogger({ tier: 'cgi', level, destination: pino.destination({ dest: 2, sync: true }) }).child({
    reqId: env['HTTP_X_REQUEST_ID'],
  });

  let limits: BodyLimits;
  try {
    limits = await readBodyLimits(env);
  } catch (error) {
    logger.error({ err: error }, (error as Error).message);
    writeMisconfigured(env['HTTP_X_REQUEST_ID']);
    process.exitCode = 1;
    return;
  }

  if (env['APP_MODULE'] !== undefined && env['APP_MODULE'] !== '') {
    await runModule(env['APP_MODULE'], env, logger);
    return;
  }

  let store;
  try {
    store = await openStore(env['DATABASE_URL'] ?? DEFAULT_DATABASE_URL, { logger });
  } catch (error) {
    logger.error({ err: error }, 'cannot open the store');
    writeUnavailable(env['HTTP_X_REQUEST_ID']);
    process.exitCode = 1;
    return;
  }
  // The gateway sets APP_TOKEN (DATABASE_URL, the body bounds) for this script alone, from its own config,
  // never from the request: writes need the same bearer token as on the app tier (auth.ts).
  const appToken = env['APP_TOKEN'];
  const app = createApp({ store, logger, appToken: appToken === '' ? undefined : appToken, worker: { pid: process.pid }, ...limits });
  await answerOnce(app, env, logger);
}

await main();
