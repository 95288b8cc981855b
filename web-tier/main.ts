/**
 * `npm run web`: the web tier's entry, and the only place in it that reads process.env and
 * argv, listens or exits. Config errors print one line naming the key and exit 1; SIGTERM
 * and SIGINT close gracefully, then exit 0.
 */
import { ConfigError, parseFlags } from '../common/config.js';
import { createLogger, type Logger } from '../common/logger.js';
import { loadConfig, type WebConfig } from './config.js';
import type { WebHandlers } from './server.js';
import { createWebServer } from './server.js';

function fail(message: string): never {
  process.stderr.write(`twotier web: ${message}\n`);
  process.exit(1);
}

/** WEB_DYNAMIC=embedded: the application runs in this process (the seed's embedded interpreter). */
async function embeddedHandlers(config: WebConfig, logger: Logger): Promise<Partial<WebHandlers>> {
  if (config.dynamic !== 'embedded') return {};
  // Loaded only in embedded mode: the proxy and CGI modes never open the database here.
  const [{ openStore }, { createApp }, { createEmbeddedHandler }] = await Promise.all([
    import('../app-tier/store/index.js'),
    import('../app-tier/app/create-app.js'),
    import('./embedded.js'),
  ]);
  const store = await openStore(config.databaseUrl, { logger });
  const app = createApp({ store, logger: logger.child({ component: 'app' }) });
  return { app: createEmbeddedHandler({ app, logger: logger.child({ component: 'embedded' }) }) };
}

async function main(): Promise<void> {
  let config: WebConfig;
  try {
    config = loadConfig(parseFlags(process.argv.slice(2), ['config'])['config'], process.env);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  const logger = createLogger({ tier: 'web', level: config.logLevel });
  let handlers: Partial<WebHandlers>;
  try {
    handlers = await embeddedHandlers(config, logger);
  } catch (error) {
    fail(`DATABASE_URL: cannot open the application for embedded mode: ${(error as Error).message}`);
  }
  const web = createWebServer({ config, logger, handlers });

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    web.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  try {
    const where = await web.listen();
    const host = where.address.includes(':') ? `[${where.address}]` : where.address;
    // The launcher and tests read the port (WEB_PORT=0) from this line.
    logger.info({ address: where.address, port: where.port, url: `http://${host}:${where.port}`, dynamic: config.dynamic, upstreams: config.upstreams, root: config.root }, 'listening');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    await web.close().catch(() => undefined);
    fail(`cannot listen on ${config.host}:${config.port} (${code}); set WEB_HOST/WEB_PORT`);
  }
}

main().catch((error: unknown) => {
  fail(`failed to start: ${(error as Error).message}`);
});
