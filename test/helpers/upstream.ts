/**
 * A stub upstream for tests of the web tier's proxy: a node:http server on 127.0.0.1 port 0
 * with the test's own listener, counting the connections it accepted, closed (connections
 * included) by the test that started it.
 */
import http, { type RequestListener } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';

/** The slice of a tap Test these helpers use. */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface Upstream {
  readonly url: string;
  readonly port: number;
  readonly server: http.Server;
  /** TCP connections the upstream accepted so far. */
  connections(): number;
  /** Connections open right now. */
  readonly open: Set<net.Socket>;
}

export async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

export function closeServer(server: http.Server | net.Server): Promise<void> {
  if ('closeAllConnections' in server) server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** listen() for a test: the server is closed, its connections with it, in the test's teardown. */
export async function listenForTest(t: Teardown, server: http.Server | net.Server): Promise<number> {
  const port = await listen(server);
  t.teardown(() => closeServer(server));
  return port;
}

export async function startUpstream(t: Teardown, listener: RequestListener): Promise<Upstream> {
  const server = http.createServer(listener);
  let accepted = 0;
  const open = new Set<net.Socket>();
  server.on('connection', (socket) => {
    accepted += 1;
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  const port = await listenForTest(t, server);
  return { url: `http://127.0.0.1:${port}`, port, server, connections: () => accepted, open };
}
