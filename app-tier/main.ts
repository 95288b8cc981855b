/**
 * `npm run app`: the app tier's entry, and the only place that reads process.env and argv,
 * listens, forks or exits. Run directly it is the cluster primary and forks APP_WORKERS
 * copies of itself; in a forked copy (ours, or pm2's cluster mode) it is one worker.
 */
import cluster from 'node:cluster';
import { ConfigError, parseFlags } from '../common/config.js';
import { createLogger, type Logger } from '../common/logger.js';
import { createApp } from './app/create-app.js';
import { loadConfig, type AppConfig } from './config.js';
import { openStore } from './store/index.js';
import { createSupervisor } from './supervisor.js';
import { createWorkerServer } from './worker.js';

function fail(message: string): never {
  process.stderr.write(`twotier app: ${message}\n`);
  process.exit(1);
}

function onShutdownSignal(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

async function runPrimary(config: AppConfig, logger: Logger): Promise<void> {
  // Migrate and seed once here, before any worker starts: a bad DATABASE_URL path fails now,
  // in one line, instead of as a crash loop of workers.
  try {
    const store = await openStore(config.databaseUrl, { logger });
    await store.close();
  } catch (error) {
    fail(`DATABASE_URL: cannot open the database: ${(error as Error).message}`);
  }
  if (config.databaseUrl === 'sqlite::memory:' && config.workers > 1) {
    logger.warn({ workers: config.workers }, 'sqlite::memory: gives every worker its own empty database; use a file to share data');
  }
  const supervisor = createSupervisor({ config, logger, cluster });
  onShutdownSignal(logger, () => supervisor.close());
  process.on('SIGHUP', () => {
    logger.info('rolling reload');
    supervisor.reload().then(
      () => logger.info({ workers: supervisor.pids() }, 'reload finished'),
      (error: unknown) => logger.error({ err: error }, 'reload failed'),
    );
  });
  try {
    const where = await supervisor.start();
    const url = `http://${where.address.includes(':') ? `[${where.address}]` : where.address}:${where.port}`;
    // Tests and the launcher read the port (APP_PORT=0) from this line.
    logger.info({ address: where.address, port: where.port, url, workers: supervisor.pids() }, 'listening');
  } catch (error) {
    logger.fatal({ err: error }, 'app tier failed to start');
    await supervisor.close();
    fail((error as Error).message);
  }
}

async function runWorker(config: AppConfig, logger: Logger): Promise<void> {
  const store = await openStore(config.databaseUrl, { logger });
  const app = createApp({ store, logger, appToken: config.appToken, faultRoutes: config.faultRoutes, worker: { pid: process.pid } });
  const worker = createWorkerServer({ config, logger, app });
  // SIGINT is what `pm2 reload` sends; SIGTERM is what our primary and container runtimes send.
  onShutdownSignal(logger, async () => {
    await worker.close();
    await app.close();
  });
  const where = await worker.listen();
  logger.info({ address: where.address, port: where.port }, 'worker listening');
  // pm2 (wait_ready) and our primary both learn "listening" from this message.
  process.send?.('ready');
}

async function main(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfig(parseFlags(process.argv.slice(2), ['config'])['config'], process.env);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  const logger = createLogger({ tier: 'app', level: config.logLevel }).child({ role: cluster.isPrimary ? 'primary' : 'worker' });
  if (cluster.isPrimary) await runPrimary(config, logger);
  else await runWorker(config, logger);
}

main().catch((error: unknown) => {
  fail(error instanceof Error ? error.message : String(error));
});
