/**
 * The `sirv-static-1k` reference row (issue 8): sirv, a small, fast static file server for
 * Node, serving the bench's scratch web root on 127.0.0.1, port 0. Options as close to the
 * web tier's as sirv has: ETag on (the web tier sends validators and answers 304), production
 * mode (dev: false, files listed once at start), precompressed .br/.gz twins honoured (the
 * scratch root has none, as for the web tier). Prints one JSON line with its port, the way
 * launcher.ts (findPortInLine) reads the tiers' start-up lines.
 *
 *   node dist/bench/sirv-server.js WEB_ROOT
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import sirv, { type Options } from 'sirv';

export const SIRV_OPTIONS: Readonly<Options> = Object.freeze({ dev: false, etag: true, gzip: true, brotli: true });

function main(): void {
  const root = process.argv[2];
  if (root === undefined || root === '') {
    process.stderr.write('usage: node dist/bench/sirv-server.js WEB_ROOT\n');
    process.exit(2);
  }
  const serve = sirv(root, { ...SIRV_OPTIONS });
  const server = createServer((req, res) => serve(req, res));
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    process.stdout.write(`${JSON.stringify({ msg: 'listening', server: 'sirv', port, url: `http://127.0.0.1:${port}` })}\n`);
  });
  const stop = (): void => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1]?.endsWith('sirv-server.js')) main();
