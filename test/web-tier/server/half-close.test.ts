import t from 'tap';
import { connect } from 'node:net';
import { once } from 'node:events';
import { createFakeHandler, startWeb } from '../../helpers/web-tier.js';

// `printf 'GET … \r\n\r\n' | nc -N host port` sends the request, then a FIN. The answer must
// still come back, whichever handler serves it (node's default aborts the request).
async function halfClosedExchange(port: number, target: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.end(`GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('latin1');
}

t.test('a half-closed request is answered, static and dynamic alike', async (t) => {
  // Answers come 50 ms after the request, so the client's FIN has arrived by then.
  const handlers = { static: createFakeHandler('static', { delayMs: 50 }), app: createFakeHandler('app', { delayMs: 50 }), cgi: createFakeHandler('cgi') };
  const { port } = await startWeb(t, { handlers });
  t.match(await halfClosedExchange(port, '/index.html'), /^HTTP\/1\.1 200 [^]*X-Served-By: static/i);
  t.match(await halfClosedExchange(port, '/api/echo'), /^HTTP\/1\.1 200 [^]*X-Served-By: app/i);
});
