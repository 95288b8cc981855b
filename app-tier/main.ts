/**
 * `npm run app`: the app tier's entry, and the only place that reads process.env and argv,
 * listens, forks or exits. Three roles:
 * - run directly: the cluster primary, which forks APP_WORKERS copies of itself;
 * - forked by that primary (TWOTIER_APP_PRIMARY_PID set): one worker, whose /metrics asks
 *   the primary for the cluster aggregate;
 * - started by pm2 (pm_id / NODE_APP_INSTANCE set, cluster or fork mode) or forked by any
 *   other primary: one standalone worker; pm2 is the process manager and there is no
 *   primary of ours, so /metrics answers for this process alone.
 */
import cluster from 'node:cluster';
import { randomInt } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { AppModuleError, loadAppModule, type LoadAppModuleOptions } from '../common/app-module.js';
import { ConfigError, parseFlags } from '../common/config.js';
import { hostPort, ListenError, listenFailedMessage, probeListen } from '../common/listen-error.js';
import type { Application } from '../common/app-interface.js';
import { createLogger, prettyWanted, type Logger } from '../common/logger.js';
import { launcherChain, watchLaunchers, type LauncherChain } from '../common/parent-watch.js';
import { createApp } from './app/create-app.js';
import { DEFAULTS, loadConfig, type AppConfig } from './config.js';
import { createWorkerMetrics } from './metrics.js';
import { createClusterAggregator, createClusterSource, createLocalSource, createPrimaryMetrics, type OperatorSource } from './metrics-cluster.js';
import { createRouteNamer } from './metrics-routes.js';
import { instrumentStore } from './metrics-store.js';
import { createOperatorEndpoints } from './operator.js';
import { claimPidFile, heldBy, instancePidFile, PidFileHeldError, type PidFile } from './operator-pid-file.js';
import { openStore } from './store/index.js';
import { createWorkerLiveHub } from './live.js';
import { createLiveRelay, processChannel } from '../common/live-cluster.js';
import { replaceRequest } from '../common/supervisor.js';
import { createSupervisor } from './supervisor.js';
import { readAppTls } from './tls.js';
import { createWorkerServer, type WorkerServer } from './worker.js';

/** Set by our primary in every worker it forks: its pid. */
const PRIMARY_ENV = 'TWOTIER_APP_PRIMARY_PID';

/** Room left under pm2's kill_timeout for closing the store and exiting after the drain. */
const PM2_EXIT_MARGIN_MS = 1_000;

function fail(message: string): never {
  process.stderr.write(`twotier app: ${message}\n`);
  process.exit(1);
}

/** SIGTERM/SIGINT run `stop` once, then exit; the returned function does the same for other causes. */
function onShutdownSignal(logger: Logger, stop: () => Promise<void>): (why: Record<string, unknown>) => void {
  let stopping = false;
  const begin = (why: Record<string, unknown>): void => {
    if (stopping) return;
    stopping = true;
    logger.info(why, 'shutting down');
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  const handler = (signal: NodeJS.Signals): void => begin({ signal });
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return begin;
}

function pidFileFailure(error: unknown, file: string, host: string, port: number): string {
  if (error instanceof PidFileHeldError) {
    return `an app tier already runs on ${hostPort(host, port)}: pid ${error.holder} (${file}); stop it first, or \`npm run reload\` it`;
  }
  return `APP_PID_FILE: cannot write ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
}

async function runPrimary(config: AppConfig, logger: Logger, launchers: LauncherChain): Promise<void> {
  // APP_TLS_CERT/APP_TLS_KEY read and matched once here: a bad pair is one line, before any worker forks.
  try {
    readAppTls(config);
  } catch (error) {
    fail((error as Error).message);
  }
  // One pid file per instance (operator-pid-file.ts): the default name carries host and port.
  const pidFileAt = (port: number): string => resolve(instancePidFile(config.pidFile, config.pidFile === DEFAULTS.pidFile, config.host, port));
  const early = pidFileAt(config.port);
  try {
    // Refuse at once, naming the pid, when an app tier of ours already serves this address;
    // and find an unwritable folder before anything starts.
    const holder = config.port === 0 ? undefined : heldBy(early);
    if (holder !== undefined) throw new PidFileHeldError(early, holder);
    mkdirSync(dirname(early), { recursive: true });
  } catch (error) {
    fail(pidFileFailure(error, early, config.host, config.port));
  }
  try {
    await probeListen(config.host, config.port);
  } catch (error) {
    fail(`${(error as Error).message}; set APP_HOST/APP_PORT`);
  }
  if (config.appModule === undefined) {
    // Migrate and seed once here, before any worker starts: a bad DATABASE_URL path fails now,
    // in one line, instead of as a crash loop of workers.
    try {
      const store = await openStore(config.databaseUrl, { logger });
      await store.close();
    } catch (error) {
      fail(`DATABASE_URL: cannot open the database: ${(error as Error).message}`);
    }
  } else {
    // Build APP_MODULE's application once here and close it (gunicorn's preload check): a module
    // that is missing, of the wrong shape, or whose createApp fails stops start-up with its one
    // line, instead of as workers that die at start until the supervisor gives up.
    try {
      const app = await loadAppModule(appModuleOptions(config, logger));
      await app.close();
    } catch (error) {
      fail(error instanceof AppModuleError ? error.message : `APP_MODULE: ${(error as Error).message}`);
    }
  }
  if (config.databaseUrl === 'sqlite::memory:' && config.workers > 1) {
    logger.warn({ workers: config.workers }, 'sqlite::memory: gives every worker its own empty database; use a file to share data');
  }
  const supervisor = createSupervisor({
    config,
    logger,
    cluster,
    env: { [PRIMARY_ENV]: String(process.pid) },
    // Called only once workers run, when primaryMetrics exists.
    onRestart: (reason) => primaryMetrics.workerRestarted(reason),
  });
  const primaryMetrics = createPrimaryMetrics({ workersAlive: () => supervisor.pids().length });
  const aggregator = createClusterAggregator({ cluster, primary: primaryMetrics });
  // The live feed of one box: what a worker publishes, the primary sends to every worker.
  const liveRelay = createLiveRelay(cluster);
  const shutDown = onShutdownSignal(logger, async () => {
    liveRelay.close();
    await supervisor.close();
    aggregator.close();
  });
  // The launcher (npm start, npm run app) is gone: stop as on SIGTERM instead of serving on
  // as an orphan (common/parent-watch.ts).
  watchLaunchers({ chain: launchers, onGone: (pid) => shutDown({ launcherGone: pid, launcher: launchers.launcher }) });
  process.on('SIGHUP', () => {
    logger.info('rolling reload');
    supervisor.reload().then(
      () => logger.info({ workers: supervisor.pids() }, 'reload finished'),
      (error: unknown) => logger.error({ err: error }, 'reload failed'),
    );
  });
  try {
    const where = await supervisor.start();
    // Claimed once listening: with APP_PORT=0 the name needs the port the kernel chose.
    const file = pidFileAt(where.port);
    let pidFile: PidFile;
    try {
      pidFile = claimPidFile(file, process.pid);
    } catch (error) {
      await supervisor.close();
      fail(pidFileFailure(error, file, config.host, where.port));
    }
    process.on('exit', () => pidFile.remove());
    const url = `${config.tlsCertFile === undefined ? 'http' : 'https'}://${where.address.includes(':') ? `[${where.address}]` : where.address}:${where.port}`;
    // Tests and the launcher read the port (APP_PORT=0) from this line.
    logger.info({ address: where.address, port: where.port, url, metrics: `${url}/metrics`, workers: supervisor.pids(), pidFile: file }, 'listening');
  } catch (error) {
    logger.fatal({ err: error }, 'app tier failed to start');
    await supervisor.close();
    fail(error instanceof ListenError ? `${error.message}; set APP_HOST/APP_PORT` : (error as Error).message);
  }
}

/** APP_MODULE with what every mode hands createApp (common/app-interface.ts AppContext). */
function appModuleOptions(config: AppConfig, logger: Logger): LoadAppModuleOptions {
  return {
    spec: config.appModule ?? '',
    baseDir: process.cwd(),
    context: { logger: logger.child({ component: 'app' }), env: process.env, databaseUrl: config.databaseUrl, mode: 'persistent' },
    timeoutMs: config.appModuleTimeoutMs,
  };
}

async function moduleApp(config: AppConfig, logger: Logger): Promise<Application> {
  try {
    return await loadAppModule(appModuleOptions(config, logger));
  } catch (error) {
    // Our primary checked the module before forking, so this is rare (a file changed since); the
    // supervisor counts the exit as a failed start and gives up after a few (supervisor.ts).
    fail(error instanceof AppModuleError ? error.message : `APP_MODULE: ${(error as Error).message}`);
  }
}

interface WorkerRole {
  /** Our primary's pid, or undefined for a standalone worker (pm2, or another primary). */
  readonly primaryPid: number | undefined;
  /** pm2's kill_timeout when pm2 passed it down: the drain must end before pm2's SIGKILL. */
  readonly killTimeoutMs: number | undefined;
}

async function runWorker(config: AppConfig, logger: Logger, role: WorkerRole): Promise<void> {
  let worker: WorkerServer | undefined;
  const metrics = createWorkerMetrics({ isReady: () => worker?.state === 'ready' });
  // An application's stray promise rejection (one no request awaited) is logged, and the worker
  // keeps serving; node's default would end the process and every request in it. An uncaught
  // exception still ends it: after one, node's state is not known to be sound (node docs, 'uncaughtException').
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection in the application; the worker keeps serving'));
  // The live feed (article events for /api/live and /api/articles/events), fanned out to the other
  // workers through our primary, or to every box through Postgres (live.ts).
  const live = await createWorkerLiveHub({
    databaseUrl: config.databaseUrl, bufferEvents: config.liveBufferEvents, logger,
    channel: role.primaryPid !== undefined ? processChannel(process) : undefined,
  });
  const app = config.appModule !== undefined ? await moduleApp(config, logger) : createApp({
    store: instrumentStore(await openStore(config.databaseUrl, { logger }), (operation, code) => metrics.storeError(operation, code)),
    logger, appToken: config.appToken, faultRoutes: config.faultRoutes, worker: { pid: process.pid },
    maxArticleBodyBytes: config.maxArticleBodyBytes, maxRequestBodyBytes: config.maxRequestBodyBytes,
    debug: config.debug, reportStepDelayMs: config.reportStepDelayMs, live,
  });
  let source: OperatorSource & { close?: () => void };
  if (role.primaryPid !== undefined && process.send !== undefined) {
    const channel = {
      // With a callback a closed channel (primary gone) is reported there instead of as an
      // 'error' event that would crash the worker; the asker's timeout then answers 503.
      send: (message: unknown) => process.send?.(message, undefined, undefined, () => undefined) ?? false,
      on: (event: 'message', listener: (message: unknown) => void) => process.on(event, listener),
      off: (event: 'message', listener: (message: unknown) => void) => process.off(event, listener),
    };
    source = createClusterSource({ channel, metrics });
  } else {
    source = createLocalSource(metrics);
  }
  let shutdownTimeoutMs = config.shutdownTimeoutMs;
  if (role.killTimeoutMs !== undefined && shutdownTimeoutMs > role.killTimeoutMs - PM2_EXIT_MARGIN_MS) {
    shutdownTimeoutMs = Math.max(100, role.killTimeoutMs - PM2_EXIT_MARGIN_MS);
    logger.warn({ shutdownTimeoutMs, killTimeoutMs: role.killTimeoutMs }, 'shutdown bound shortened to end before pm2 kill_timeout');
  }
  worker = createWorkerServer({
    config: { ...config, shutdownTimeoutMs },
    logger,
    app,
    metrics,
    operator: createOperatorEndpoints({ allow: config.operatorAllow, hosts: config.operatorHosts, source }),
    // The built-in app's route names; an APP_MODULE's routes are its own business: one label.
    // Server-Sent Events streams end when the worker drains (their clients resume elsewhere with
    // Last-Event-ID); the WebSockets get 1001 from the worker server itself.
    onDraining: () => live.end(),
    routeOf: config.appModule === undefined ? createRouteNamer({ faultRoutes: config.faultRoutes }) : () => 'app',
    ...(config.maxRequests === 0 ? {} : { maxRequests: config.maxRequests + randomInt(config.maxRequestsJitter + 1) }),
    tls: readAppTls(config),
    // Under our primary the worker asks to be replaced and serves on until its successor listens
    // (common/supervisor.ts replaceWorker: one at a time, so capacity never drops); standalone
    // (pm2) it drains and exits, and its process manager starts another.
    onMaxRequests: (served) => {
      if (role.primaryPid !== undefined && process.send !== undefined) process.send(replaceRequest('max-requests'), undefined, undefined, () => undefined);
      else shutDown({ maxRequests: served });
    },
  });
  const server = worker;
  // SIGINT is what `pm2 reload`/`pm2 stop` send; SIGTERM is what our primary and container
  // runtimes send. Either way: readyz 503, listener closed, in-flight requests finished (with
  // Connection: close) within shutdownTimeoutMs, then exit 0.
  const shutDown = onShutdownSignal(logger, async () => {
    await server.close();
    source.close?.();
    metrics.close();
    await app.close();
    await live.close();
  });
  let where: { address: string; port: number };
  try {
    where = await server.listen();
  } catch (error) {
    const errno = (error as NodeJS.ErrnoException).code ?? 'error';
    if (role.primaryPid !== undefined && process.send !== undefined) {
      // Our primary prints the one line for the whole tier and gives up: every worker would
      // fail the same way, and a restart cannot free the port.
      process.send(listenFailedMessage(errno, config.host, config.port), undefined, undefined, () => process.exit(1));
      return;
    }
    fail(`${new ListenError(errno, config.host, config.port).message}; set APP_HOST/APP_PORT`);
  }
  logger.info({ address: where.address, port: where.port, primaryPid: role.primaryPid ?? null }, 'worker listening');
  // pm2 (wait_ready) learns "listening" from this message; our primary from cluster's 'listening'.
  process.send?.('ready');
}

function positiveInt(raw: string | undefined): number | undefined {
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  const value = Number(raw);
  return value > 0 ? value : undefined;
}

async function main(): Promise<void> {
  let config: AppConfig;
  try {
    const flags = parseFlags(process.argv.slice(2), ['config', 'app']);
    // --app names APP_MODULE on the command line (gunicorn's positional module:app); it wins over the env.
    config = loadConfig(flags['config'], flags['app'] === undefined ? process.env : { ...process.env, APP_MODULE: flags['app'] });
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  // Recorded first: a launcher that dies while we start must still be noticed.
  const launchers = launcherChain(process.env, process.ppid);
  const underPm2 = process.env['pm_id'] !== undefined || process.env['NODE_APP_INSTANCE'] !== undefined;
  // Our primary's pid, checked against the real parent: a variable inherited by some other
  // process manager's workers must not make them wait for a primary that is not there.
  const primaryPid = cluster.isWorker && !underPm2 && positiveInt(process.env[PRIMARY_ENV]) === process.ppid ? process.ppid : undefined;
  const isPrimary = cluster.isPrimary && !underPm2;
  // JSON lines unless a person is reading (LOG_PRETTY=1, or a TTY): pino-pretty then runs as a transport.
  const pretty = prettyWanted(process.env['LOG_PRETTY'], process.stdout.isTTY);
  const logger = createLogger({ tier: 'app', level: config.logLevel, pretty }).child({ role: isPrimary ? 'primary' : 'worker' });
  if (isPrimary) await runPrimary(config, logger, launchers);
  else await runWorker(config, logger, { primaryPid, killTimeoutMs: underPm2 ? positiveInt(process.env['kill_timeout']) : undefined });
}

main().catch((error: unknown) => {
  fail(error instanceof Error ? error.message : String(error));
});
