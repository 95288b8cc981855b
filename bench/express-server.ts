/**
 * The `express-own-server` reference row (issue 18): the Express example's app
 * (examples/express/app.js createExpressApp) on its own node:http server, 127.0.0.1, port 0:
 * what the same app costs without twotier, against `express-app-tier` (the same app through
 * fromNodeHandler in an app tier worker). Prints one JSON line with its port, as sirv-server.ts.
 *
 *   node dist/bench/express-server.js EXPRESS_APP_JS
 */
import { createServer, type RequestListener } from 'node:http';
import { pathToFileURL } from 'node:url';
import { exitWithUsage, serveUntilSignalled } from './server-main.js';

async function main(): Promise<void> {
  const file = process.argv[2];
  if (file === undefined || file === '') exitWithUsage('usage: node dist/bench/express-server.js EXPRESS_APP_JS');
  // Loaded by path at run time: the example is plain JavaScript outside the TypeScript build.
  const example = (await import(pathToFileURL(file).href)) as { createExpressApp?: () => RequestListener };
  if (typeof example.createExpressApp !== 'function') exitWithUsage(`${file} exports no createExpressApp`);
  // The app tier's keep-alive timeout (65 s), so neither side closes an idle autocannon socket.
  const server = createServer(example.createExpressApp());
  server.keepAliveTimeout = 65_000;
  serveUntilSignalled(server, 'express');
}

if (process.argv[1]?.endsWith('express-server.js')) await main();
