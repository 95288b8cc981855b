/**
 * The `sirv-static-1k` reference row (issue 8): sirv, a small, fast static file server for
 * Node, serving the bench's scratch web root on 127.0.0.1, port 0. Options as close to the
 * web tier's as sirv has: ETag on (the web tier sends validators and answers 304), production
 * mode (dev: false, files listed once at start), precompressed .br/.gz twins honoured (the
 * scratch root has none, as for the web tier). Prints one JSON line with its port
 * (server-main.ts).
 *
 *   node dist/bench/sirv-server.js WEB_ROOT
 */
import { createServer } from 'node:http';
import sirv, { type Options } from 'sirv';
import { exitWithUsage, serveUntilSignalled } from './server-main.js';

export const SIRV_OPTIONS: Readonly<Options> = Object.freeze({ dev: false, etag: true, gzip: true, brotli: true });

function main(): void {
  const root = process.argv[2];
  if (root === undefined || root === '') exitWithUsage('usage: node dist/bench/sirv-server.js WEB_ROOT');
  const serve = sirv(root, { ...SIRV_OPTIONS });
  const server = createServer((req, res) => serve(req, res));
  serveUntilSignalled(server, 'sirv');
}

if (process.argv[1]?.endsWith('sirv-server.js')) main();
