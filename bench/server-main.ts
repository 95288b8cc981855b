/**
 * The part every bench-owned server's main shares (sirv-server.ts, express-server.ts,
 * express-adapter-server.ts, node-https-server.ts, ws-echo-server.ts): listen on 127.0.0.1, port 0,
 * print one JSON line with the port, the way launcher.ts (findPortInLine) reads the tiers'
 * start-up lines, and exit 0 on SIGTERM or SIGINT once every connection is closed. For mains only:
 * it listens and exits.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ServeOptions {
  /** In the printed line's `url`. */
  readonly scheme?: 'http' | 'https';
  /** Runs first on a stop signal (the WebSocket echo terminates its clients). */
  readonly onStop?: () => void;
}

/** Prints the usage (or what is wrong with the arguments) on stderr and exits 2. */
export function exitWithUsage(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

/** `server` is an http.Server or an https.Server; `name` goes in the printed line. */
export function serveUntilSignalled(server: Server, name: string, options: ServeOptions = {}): void {
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    process.stdout.write(`${JSON.stringify({ msg: 'listening', server: name, port, url: `${options.scheme ?? 'http'}://127.0.0.1:${port}` })}\n`);
  });
  const stop = (): void => {
    options.onStop?.();
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
