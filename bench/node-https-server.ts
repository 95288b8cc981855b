/**
 * The `node-https-static-1k-resumed` row (issue 15): node:https on its own, no web tier, with the
 * web tier's TLS settings (web-tier/tls/settings.ts), the run's certificate and a ticket key, and
 * one file of the web root answered from memory (200, Content-Type and Content-Length, nothing
 * else: no limits, no logging, no metrics, no file lookup). It is not a server anyone should
 * deploy: it shows what one new (resumed) TLS connection costs Node itself, so the web tier's
 * figure splits into Node's share and the web tier's own. Prints one JSON line with its port
 * (server-main.ts).
 *
 *   node dist/bench/node-https-server.js CERT_FILE KEY_FILE WEB_ROOT PATH
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';
import { TLS_SETTINGS } from '../web-tier/tls/settings.js';
import { exitWithUsage, serveUntilSignalled } from './server-main.js';

function main(): void {
  const [certFile, keyFile, root, path] = process.argv.slice(2);
  if (certFile === undefined || keyFile === undefined || root === undefined || path === undefined || !path.startsWith('/')) {
    exitWithUsage('usage: node dist/bench/node-https-server.js CERT_FILE KEY_FILE WEB_ROOT /PATH');
  }
  const body = readFileSync(join(root, path));
  const server = createServer({ ...TLS_SETTINGS, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') }, (req, res) => {
    if (req.url !== path) {
      res.writeHead(404, { 'Content-Length': 0 });
      res.end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  // As the web tier does at start (tls/listener.ts): a fresh ticket key, so TLS 1.3 sessions resume.
  server.setTicketKeys(randomBytes(48));
  serveUntilSignalled(server, 'node:https', { scheme: 'https' });
}

if (process.argv[1]?.endsWith('node-https-server.js')) main();
