/**
 * nginx's lingering close (`lingering_close`, `lingering_time`, `lingering_timeout`): after an
 * early error response (413, 431, 414, 400 …) the client may still be sending its request. A
 * socket closed with unread bytes, or one that receives bytes after close, answers with RST,
 * and the client's kernel then throws away the response it has not read yet: the client sees
 * "connection reset" instead of the 413. So the write side is shut (FIN after the response),
 * and what the client still sends is read and discarded, for a bounded time and byte count,
 * before the socket is closed. RFC 9112 §9.6: "a server … SHOULD … not fully close the
 * connection until … the client has received the final response".
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { LingerConfig } from './limits-config.js';

/** limits-config.ts: lingeringTimeMs (nginx lingering_time; 0 = close at once), lingeringTimeoutMs, lingeringMaxBytes. */
export type LingerOptions = LingerConfig;

const lingering = new WeakSet<Socket>();

export function isLingering(socket: Socket): boolean {
  return lingering.has(socket);
}

/** Ends the write side now (after what is queued) and reads and discards, bounded, before destroying. */
export function lingeringClose(socket: Socket, options: LingerOptions): void {
  if (lingering.has(socket) || socket.destroyed) return;
  lingering.add(socket);
  // Node's keep-alive timer would destroy the socket under the linger; the bounds below replace it.
  socket.setTimeout(0);
  if (socket.writable) socket.end();
  if (options.lingeringTimeMs === 0 || socket.readableEnded) {
    // Nothing to linger for: close once the answer is flushed (net's destroySoon).
    if (socket.writableFinished) socket.destroy();
    else socket.once('finish', () => socket.destroy());
    return;
  }
  const started = Date.now();
  const startBytes = socket.bytesRead;
  let seenBytes = startBytes;
  let lastProgress = started;
  // Node's parser reads the socket itself (no 'data' events), so progress is seen in bytesRead.
  const every = Math.max(10, Math.min(250, Math.floor(options.lingeringTimeoutMs / 4)));
  const timer = setInterval(() => {
    const now = Date.now();
    if (socket.bytesRead !== seenBytes) {
      seenBytes = socket.bytesRead;
      lastProgress = now;
    }
    if (now - started >= options.lingeringTimeMs || now - lastProgress >= options.lingeringTimeoutMs || seenBytes - startBytes > options.lingeringMaxBytes) {
      socket.destroy();
    }
  }, every);
  timer.unref();
  socket.once('close', () => clearInterval(timer));
  // The client closed its side: it has everything it will read.
  socket.once('end', () => socket.destroy());
  socket.on('error', () => socket.destroy());
  // Node may have paused reading (pipelined backpressure); the rest must be read to be discarded.
  if (socket.isPaused()) socket.resume();
}

/**
 * Makes node's own close of this socket (http's `destroySoon` after a `Connection: close`
 * response) a lingering one. Set on the socket instance only, for connections refused early.
 */
export function lingerInsteadOfClose(socket: Socket, options: () => LingerOptions): void {
  if (lingering.has(socket)) return;
  socket.destroySoon = () => lingeringClose(socket, options());
}

/**
 * A connection flooded with requests that will never be answered (pipelined after a refused
 * one): stop reading now, and close once the responses it still owes (earlier requests', then
 * the refusal) have been written, in request order (RFC 9112 §9.3.2). Closing at once lost them:
 * a client whose first request was still being served and whose second was refused saw neither.
 * `_paused` is node's own mark of a server socket it stopped reading (lib/_http_server.js): with
 * it set, neither a request body being read nor a 'resume' starts reading again.
 */
export function closeWhenAnswered(socket: Socket, owed: readonly ServerResponse[], options: LingerOptions): void {
  stopReading(socket);
  const close = (): void => {
    // Every answer is flushed by now. Already lingering (the refusal's own close): end it, as a
    // flood should; else end the write side and close once that is out.
    if (lingering.has(socket)) socket.destroy();
    else lingeringClose(socket, { ...options, lingeringTimeMs: 0 });
  };
  let left = owed.length;
  if (left === 0) {
    close();
    return;
  }
  for (const res of owed) {
    res.once('close', () => {
      left -= 1;
      if (left === 0) close();
    });
  }
}

/** Stops reading a server socket the way node's own pipelining guard does (set again if a drain restarted it). */
export function stopReading(socket: Socket): void {
  (socket as Socket & { _paused?: boolean })._paused = true;
  socket.pause();
}
