/**
 * The WebSocket upstream of the bench's WebSocket rows (issue 16): every message is sent back
 * as it came. A bench-owned echo rather than the app's /api/live, so the rows measure the hop
 * (the web tier splices bytes and never parses frames, nginx proxies them the same way) and
 * not the app's fan-out. Plain HTTP requests (the web tier's active health check) get 200.
 * Usage: node ws-echo-server.js — listens on 127.0.0.1, port 0, and prints its port (server-main.ts).
 */
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { serveUntilSignalled } from './server-main.js';

const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('ws echo\n');
});
// No compression: the proxies in front carry frames unchanged, and deflate would measure zlib.
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 64 * 1024 });
wss.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  // A client that vanishes is no error of the echo's; the socket is dropped with it.
  socket.on('error', () => socket.terminate());
});
serveUntilSignalled(server, 'ws echo', {
  onStop: () => {
    for (const client of wss.clients) client.terminate();
  },
});
