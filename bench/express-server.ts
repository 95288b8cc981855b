/**
 * The `express-own-server` reference row (issue 18): the Express example's app
 * (examples/express/app.js createExpressApp) on its own node:http server, 127.0.0.1, port 0:
 * what the same app costs without twotier, against `express-app-tier` (the same app through
 * fromNodeHandler in an app tier worker). Prints one JSON line with its port, as sirv-server.ts.
 *
 *   node dist/bench/express-server.js EXPRESS_APP_JS
 */
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';

async function main(): Promise<void> {
  const file = process.argv[2];
  if (file === undefined || file === '') {
    process.stderr.write('usage: node dist/bench/express-server.js EXPRESS_APP_JS\n');
    process.exit(2);
  }
  // Loaded by path at run time: the example is plain JavaScript outside the TypeScript build.
  const example = (await import(pathToFileURL(file).href)) as { createExpressApp?: () => RequestListener };
  if (typeof example.createExpressApp !== 'function') {
    process.stderr.write(`${file} exports no createExpressApp\n`);
    process.exit(2);
  }
  // The app tier's keep-alive timeout (65 s), so neither side closes an idle autocannon socket.
  const server = createServer(example.createExpressApp());
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    process.stdout.write(`${JSON.stringify({ msg: 'listening', server: 'express', port, url: `http://127.0.0.1:${port}` })}\n`);
  });
  const stop = (): void => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1]?.endsWith('express-server.js')) await main();
