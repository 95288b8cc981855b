/**
 * Entry point for the application run as a CGI program (`web-tier/cgi-bin/app` execs this):
 * one process per request, as the seed chapter describes CGI. Open the store, build the same
 * application the cluster workers run, answer the one request in the environment and on stdin,
 * close, exit. stdout is the CGI response, so every log line goes to stderr (the gateway logs
 * a script's stderr with the request id).
 */
import { pino } from 'pino';
import { createLogger, isLogLevel } from '../common/logger.js';
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

await main();
