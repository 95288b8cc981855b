/**
 * A real app-tier worker (createWorkerServer) running the application over an in-memory store,
 * in the test's own process, on port 0: for tests that put the real web tier in front of it.
 */
import { DEFAULTS } from '../../app-tier/config.js';
import { createApp } from '../../app-tier/app/create-app.js';
import { createWorkerServer } from '../../app-tier/worker.js';
import { createLogger } from '../../common/logger.js';
import { createMemoryStore } from './memory-store.js';
import type { Teardown } from './web-tier.js';

/** Starts the worker and returns its base URL; torn down with the test. */
export async function startAppWorker(t: Teardown): Promise<string> {
  const logger = createLogger({ tier: 'app', level: 'silent' });
  const application = createApp({ store: createMemoryStore(), logger });
  const worker = createWorkerServer({ config: { ...DEFAULTS, port: 0 }, logger, app: application });
  const address = await worker.listen();
  t.teardown(async () => {
    await worker.close();
    await application.close();
  });
  return `http://127.0.0.1:${address.port}`;
}
