/**
 * `npm run web`: the web tier's entry, and the only place in it that reads process.env and
 * argv, listens, forks or exits. Config errors print one line naming the key and exit 1;
 * SIGTERM and SIGINT close gracefully, then exit 0; SIGHUP re-reads the config (--config file
 * and environment) and applies it without dropping connections, or keeps the old one and logs
 * one error line naming the bad key (POST /-/reload does the same for an allowed peer).
 * WEB_WORKERS=N > 1 runs N such processes under a primary.
 */
import cluster from 'node:cluster';
import { ConfigError, parseFlags } from '../common/config.js';
import { ListenError, listenFailedMessage, probeListen } from '../common/listen-error.js';
import { createLogger, prettyWanted, type Logger } from '../common/logger.js';
import { processChannel } from '../common/live-cluster.js';
import { launcherChain, watchLaunchers, type LauncherChain } from '../common/parent-watch.js';
import { createWebCluster, INSTANCE_TOKEN_ENV, RELOAD_ALL_MESSAGE } from './cluster.js';
import { loadConfig, type WebConfig } from './config.js';
import { isInstanceToken } from './proxy/loop-guard.js';
import { checkRoot } from './root-check.js';
import type { WebHandlers } from './server.js';
import { createWebServer } from './server.js';
import type { ReloadOutcome } from './reload-endpoint.js';

function fail(message: string): never {
  process.stderr.write(`twotier web: ${message}\n`);
  process.exit(1);
}

/** WEB_DYNAMIC=embedded: the application runs in this process (the seed's embedded interpreter). */
async function embeddedHandlers(config: WebConfig, logger: Logger): Promise<Partial<WebHandlers>> {
  if (config.server.dynamic !== 'embedded') return {};
  // Loaded only in embedded mode: the proxy and CGI modes never open the database here.
  const { createEmbeddedApp } = await import('./embedded.js');
  // config.app.token is APP_TOKEN, the app tier's own variable: the same write protection here.
  // Clustered, the live feed's events go through the primary to every worker (web-tier/cluster.ts).
  const channel = cluster.isWorker ? processChannel(process) : undefined;
  return { app: await createEmbeddedApp(config, logger, { env: process.env, baseDir: process.cwd(), channel }) };
}

function readConfig(configFile: string | undefined): WebConfig {
  const config = loadConfig(configFile, process.env);
  checkRoot(config, process.env);
  return config;
}

/** The cluster primary: forks, forwards signals, serves nothing itself. */
async function runPrimary(config: WebConfig, logger: Logger, launchers: LauncherChain): Promise<void> {
  // One instance token for the whole cluster (cluster.ts): a looped request is caught by whichever worker it comes back to.
  const web = createWebCluster({ cluster, workers: config.server.workers, logger });
  let stopping = false;
  const stop = (why: Record<string, unknown>): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ ...why, workers: web.pids() }, 'shutting down');
    void web.close('SIGTERM').then(() => process.exit(0));
  };
  process.on('SIGTERM', (signal) => stop({ signal }));
  process.on('SIGINT', (signal) => stop({ signal }));
  // The launcher is gone (common/parent-watch.ts): stop as on SIGTERM, not serve on as an orphan.
  watchLaunchers({ chain: launchers, onGone: (pid) => stop({ launcherGone: pid, launcher: launchers.launcher }) });
  process.on('SIGHUP', () => {
    logger.info({ workers: web.pids() }, 'config reload: forwarding SIGHUP to the web workers');
    web.reload();
  });
  try {
    await probeListen(config.server.host, config.server.port);
  } catch (error) {
    fail(`${(error as Error).message}; set WEB_HOST/WEB_PORT`);
  }
  try {
    await web.start();
  } catch (error) {
    logger.error({ err: error }, 'web workers failed to start');
    await web.close('SIGKILL');
    fail(error instanceof ListenError ? `${error.message}; set WEB_HOST/WEB_PORT` : `web workers failed to start: ${(error as Error).message}`);
  }
  logger.info({ workers: web.pids() }, 'web cluster ready');
}

async function runServer(config: WebConfig, logger: Logger, configFile: string | undefined, launchers: LauncherChain): Promise<void> {
  let handlers: Partial<WebHandlers>;
  try {
    handlers = await embeddedHandlers(config, logger);
  } catch (error) {
    // An APP_MODULE failure is already one line naming APP_MODULE (common/app-module.ts).
    const message = (error as Error).message;
    fail(message.startsWith('APP_MODULE: ') ? message : `DATABASE_URL: cannot open the application for embedded mode: ${message}`);
  }
  // Clustered, POST /-/reload reaches one worker: the primary passes SIGHUP to all of them.
  const onReloadRequest = cluster.isWorker
    ? async (): Promise<ReloadOutcome> => {
        process.send?.(RELOAD_ALL_MESSAGE);
        return { ok: true, forwarded: true };
      }
    : (): Promise<ReloadOutcome> => reloadConfig();
  // A worker proxies under its primary's token (cluster.ts); a lone web tier makes its own.
  const inherited = cluster.isWorker ? process.env[INSTANCE_TOKEN_ENV] : undefined;
  const web = createWebServer({ config, logger, handlers, onReloadRequest, ...(isInstanceToken(inherited) ? { instanceToken: inherited } : {}) });

  let stopping = false;
  const stop = (why: Record<string, unknown>): void => {
    if (stopping) return;
    stopping = true;
    logger.info(why, 'shutting down');
    web.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', (signal) => stop({ signal }));
  process.on('SIGINT', (signal) => stop({ signal }));
  // A clustered worker dies with its primary (node:cluster); a lone web tier watches its launcher.
  if (!cluster.isWorker) watchLaunchers({ chain: launchers, onGone: (pid) => stop({ launcherGone: pid, launcher: launchers.launcher }) });
  // Reloads run one at a time, in the order they were asked for.
  let reloading: Promise<unknown> = Promise.resolve();
  const reloadConfig = (): Promise<ReloadOutcome> => {
    const next = reloading.then(async (): Promise<ReloadOutcome> => {
      let fresh: WebConfig;
      try {
        fresh = readConfig(configFile);
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        logger.error({ key: error.key, reason: error.message }, 'config reload rejected; the old config stays in use');
        return { ok: false, key: error.key, reason: error.message };
      }
      const result = await web.reload(fresh);
      logger.level = fresh.server.logLevel;
      logger.info({ applied: result.applied, needRestart: result.needRestart, upstreams: fresh.proxy.upstreams }, 'config reloaded');
      return { ok: true, ...result };
    });
    reloading = next.catch(() => undefined);
    return next;
  };
  process.on('SIGHUP', () => {
    if (stopping) return;
    reloadConfig().catch((error: unknown) => logger.error({ err: error }, 'config reload failed'));
  });

  try {
    const where = await web.listen();
    const host = where.address.includes(':') ? `[${where.address}]` : where.address;
    // The launcher and tests read the port (WEB_PORT=0) from this line.
    logger.info({ address: where.address, port: where.port, url: `http://${host}:${where.port}`, dynamic: config.server.dynamic, upstreams: config.proxy.upstreams, root: config.static.root }, 'listening');
    const secure = web.tlsAddress();
    // Issue 15: tests and the launcher read the HTTPS port (WEB_TLS_PORT=0) from this line.
    if (secure !== undefined) logger.info({ address: secure.address, tlsPort: secure.port, url: `https://${host}:${secure.port}`, tls: config.tls.mode }, 'listening tls');
    // pm2 (wait_ready) and any other process manager with an IPC channel learn "listening" here.
    process.send?.('ready');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    await web.close().catch(() => undefined);
    // A certificate that cannot be loaded at start (missing, mismatched, expired): its one line, exit 1.
    if ((error as NodeJS.ErrnoException).code === undefined && config.tls.mode !== 'off') fail(`tls: ${(error as Error).message}`);
    if (cluster.isWorker && process.send !== undefined) {
      // The primary prints the one line for all workers and stops forking (common/listen-error.ts).
      process.send(listenFailedMessage(code, config.server.host, config.server.port), undefined, undefined, () => process.exit(1));
      return;
    }
    fail(`${new ListenError(code, config.server.host, config.server.port).message}; set WEB_HOST/WEB_PORT`);
  }
}

async function main(): Promise<void> {
  let config: WebConfig;
  let configFile: string | undefined;
  try {
    configFile = parseFlags(process.argv.slice(2), ['config'])['config'];
    config = readConfig(configFile);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  // Recorded first: a launcher that dies while we start must still be noticed.
  const launchers = launcherChain(process.env, process.ppid);
  const clustered = config.server.workers > 1;
  const logger = createLogger({ tier: 'web', level: config.server.logLevel, pretty: prettyWanted(process.env['LOG_PRETTY'], process.stdout.isTTY) });
  if (clustered && cluster.isPrimary) await runPrimary(config, logger.child({ role: 'primary' }), launchers);
  else await runServer(config, clustered ? logger.child({ role: 'worker' }) : logger, configFile, launchers);
}

main().catch((error: unknown) => {
  fail(`failed to start: ${(error as Error).message}`);
});
