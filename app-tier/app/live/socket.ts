/**
 * GET /api/live as a WebSocket: every article event as one JSON text message. The client may
 * send `{"type":"ping"}` (answered with `{"type":"pong"}`); anything else is refused with the
 * close code RFC 6455 §7.4.1 gives it, and only that connection is closed.
 */
import type { AppRequest, AppWebSocket } from '../../../common/app-interface.js';
import type { Logger } from '../../../common/logger.js';
import type { View } from '../context.js';
import { json } from '../responses.js';
import { eventMessage } from './events.js';
import type { LiveHub } from './hub.js';

/** RFC 6455 §7.4.1 codes. */
const GOING_AWAY = 1001;
const UNSUPPORTED_DATA = 1003;
const POLICY_VIOLATION = 1008;
/** Sends not yet written to a slow client; past this it is closed (it reconnects with ?lastEventId=). */
const MAX_PENDING_SENDS = 1_000;

/** A plain GET (no Upgrade) of /api/live: RFC 9110 §15.5.22, 426 names the protocol to upgrade to. */
export const liveUpgradeRequired: View = async () => json(426, {
  error: { status: 426, code: 'APP_ERR_UPGRADE_REQUIRED', message: 'this is a WebSocket endpoint: connect with Upgrade: websocket (or read /api/articles/events as Server-Sent Events)' },
}, { Upgrade: 'websocket', Connection: 'Upgrade' });

export async function liveSocket(hub: LiveHub, request: AppRequest, socket: AppWebSocket, logger: Logger, workerPid: number): Promise<void> {
  await socket.accept();
  let pending = 0;
  const send = (message: string): void => {
    if (pending >= MAX_PENDING_SENDS) {
      socket.close(POLICY_VIOLATION, 'too slow: reconnect with ?lastEventId=');
      return;
    }
    pending += 1;
    socket.send(message).then(() => {
      pending -= 1;
    }, () => {
      pending -= 1;
    });
  };
  const unsubscribe = hub.subscribe((event) => send(eventMessage(event)), () => socket.close(GOING_AWAY, 'server going away'));
  try {
    const lastId = new URL(request.target, 'http://x').searchParams.get('lastEventId');
    if (lastId !== null && lastId !== '') {
      const missed = hub.since(lastId);
      if (missed === undefined) send('{"type":"reset"}');
      else for (const event of missed) send(eventMessage(event));
    }
    // Tells the client it is subscribed (anything written from now on reaches it), and which
    // process holds its connection, as the echo and the page footer do.
    send(JSON.stringify({ type: 'hello', worker: { pid: workerPid } }));
    for (;;) {
      const event = await socket.receive();
      if (event.type === 'close') break;
      if (typeof event.data !== 'string') {
        logger.info({ reqId: request.requestId }, 'live: binary message refused');
        socket.close(UNSUPPORTED_DATA, 'binary messages are not accepted');
        continue;
      }
      let type: unknown;
      try {
        type = (JSON.parse(event.data) as { type?: unknown } | null)?.type;
      } catch {
        type = undefined;
      }
      if (type === 'ping') {
        send('{"type":"pong"}');
        continue;
      }
      logger.info({ reqId: request.requestId, messageType: typeof type === 'string' ? type.slice(0, 64) : null }, 'live: unknown message type refused');
      socket.close(UNSUPPORTED_DATA, 'unknown message type');
    }
  } finally {
    unsubscribe();
  }
}
