/**
 * A tier that cannot bind its address has failed to start: no restart frees a taken port.
 * A cluster worker whose listen() fails sends its primary a ListenFailedMessage and exits 1;
 * the primary stops forking and prints one line naming the address (ListenError's message),
 * instead of every worker printing its own in a restart loop.
 */
import { createServer } from 'node:net';

export interface ListenFailedMessage {
  readonly twotier: 'listen-failed';
  /** The errno code: EADDRINUSE, EACCES, EADDRNOTAVAIL… */
  readonly errno: string;
  readonly host: string;
  readonly port: number;
}

export function listenFailedMessage(errno: string, host: string, port: number): ListenFailedMessage {
  return { twotier: 'listen-failed', errno, host, port };
}

export function isListenFailed(message: unknown): message is ListenFailedMessage {
  return typeof message === 'object' && message !== null && (message as { twotier?: unknown }).twotier === 'listen-failed';
}

/** host:port as a person types it (IPv6 in brackets). */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Start-up stopped because host:port cannot be bound. */
export class ListenError extends Error {
  readonly code = 'LISTEN_FAILED';
  readonly errno: string;
  readonly host: string;
  readonly port: number;
  constructor(errno: string, host: string, port: number) {
    super(`cannot listen on ${hostPort(host, port)} (${errno})`);
    this.name = 'ListenError';
    this.errno = errno;
    this.host = host;
    this.port = port;
  }
}

/**
 * Binds host:port once and lets it go, so that a cluster primary finds a taken port before it
 * forks (its workers would all fail the same bind, and node may crash a worker whose listen
 * races the primary's failed one). Port 0 always binds: nothing to check. A port taken between
 * this probe and the workers' listen still ends the start through ListenFailedMessage.
 */
export function probeListen(host: string, port: number): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => reject(new ListenError(error.code ?? 'error', host, port)));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve()));
  });
}
