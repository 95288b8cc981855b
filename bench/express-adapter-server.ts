/**
 * The `express-adapter-bare` row (issue 18): the Express example loaded as an APP_MODULE (its
 * default export, fromNodeHandler, wrapped by the guard as every mode wraps it) on a bare
 * node:http server, with nothing of the app tier's worker around it: no request id check, no
 * logger child, no metrics, no limits, no cluster primary. Each request goes through the node
 * adapter only (toAppRequest → Application.handle → writeAppResponse). Between
 * `express-own-server` and `express-app-tier` it says which part of the gap is the adapter's and
 * which the worker's. Prints one JSON line with its port, as express-server.ts.
 *
 *   node dist/bench/express-adapter-server.js EXPRESS_APP_JS
 */
import { createServer } from 'node:http';
import { loadAppModule } from '../common/app-module.js';
import { createLogger } from '../common/logger.js';
import { toAppRequest, writeAppResponse } from '../common/node-adapter.js';
import { exitWithUsage, serveUntilSignalled } from './server-main.js';

async function main(): Promise<void> {
  const file = process.argv[2];
  if (file === undefined || file === '') exitWithUsage('usage: node dist/bench/express-adapter-server.js EXPRESS_APP_JS');
  const logger = createLogger({ tier: 'bench', level: 'silent' });
  const app = await loadAppModule({ spec: file, baseDir: process.cwd(), context: { logger, env: {}, databaseUrl: '', mode: 'persistent' } });
  // A counter, not randomUUID: the request id is the worker's work, which this row leaves out.
  let served = 0;
  const server = createServer((req, res) => {
    served += 1;
    toAppRequest(req, String(served))
      .then((request) => app.handle(request))
      .then((response) => writeAppResponse(res, response))
      .catch(() => res.destroy());
  });
  // The app tier's keep-alive timeout (65 s), so neither side closes an idle autocannon socket.
  server.keepAliveTimeout = 65_000;
  serveUntilSignalled(server, 'express-adapter');
}

if (process.argv[1]?.endsWith('express-adapter-server.js')) await main();
