/**
 * The app tier bounds what it reads, not only what it parses: a worker stops buffering a
 * request body past maxRequestBodyBytes (APP_MAX_REQUEST_BODY_BYTES) and answers 413 with
 * Connection: close, whether the length was declared or the body came chunked.
 */
import t, { type Test } from 'tap';
import { once } from 'node:events';
import { connect, type AddressInfo } from 'node:net';
import { createLogger } from '../../../common/logger.js';
import { createApp } from '../../../app-tier/app/create-app.js';
import { DEFAULTS } from '../../../app-tier/config.js';
import { createWorkerServer } from '../../../app-tier/worker.js';
import { createMemoryStore } from '../../helpers/memory-store.js';

const LIMIT = 1_000;

async function startWorker(t: Test) {
  const store = createMemoryStore();
  const logger = createLogger({ tier: 'app', level: 'silent' });
  const app = createApp({ store, logger, maxRequestBodyBytes: LIMIT, maxArticleBodyBytes: LIMIT });
  const worker = createWorkerServer({ config: { ...DEFAULTS, port: 0, maxRequestBodyBytes: LIMIT }, logger, app });
  const address = await worker.listen();
  t.teardown(async () => {
    await worker.close();
    await app.close();
  });
  return { store, address };
}

/** Writes raw bytes and reads until the server closes the connection (bounded). */
async function exchange(address: AddressInfo, bytes: string): Promise<string> {
  const socket = connect(address.port, address.address);
  socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  await once(socket, 'connect');
  socket.write(bytes);
  await once(socket, 'close');
  return received;
}

function post(head: string, body: string): string {
  return `POST /api/articles/ HTTP/1.1\r\nHost: app.test\r\nContent-Type: application/json\r\nConnection: close\r\n${head}\r\n${body}`;
}

t.test('a declared length over the limit: 413 before the body is read, then close', async (t) => {
  const { store, address } = await startWorker(t);
  // Only the head is sent: the answer must not wait for a body that is not coming.
  const answer = await exchange(address, post(`Content-Length: ${LIMIT + 1}\r\n`, ''));
  t.match(answer, /^HTTP\/1\.1 413 /);
  t.match(answer, /\r\nconnection: close\r\n/i);
  t.match(answer, /"code":"APP_ERR_BODY_TOO_LARGE"/);
  t.equal(await store.countArticles(), 0);
});

t.test('a chunked body over the limit: 413 at the limit, without waiting for its end', async (t) => {
  const { store, address } = await startWorker(t);
  // One chunk past the limit and no last chunk: buffering to the end would wait forever.
  const chunk = `{"title":"Chunked","body":"${'x'.repeat(LIMIT)}`;
  const answer = await exchange(address, post('Transfer-Encoding: chunked\r\n', `${chunk.length.toString(16)}\r\n${chunk}\r\n`));
  t.match(answer, /^HTTP\/1\.1 413 /);
  t.match(answer, /"code":"APP_ERR_BODY_TOO_LARGE"/);
  t.equal(await store.countArticles(), 0);
});

t.test('within the limit, declared or chunked: served', async (t) => {
  const { store, address } = await startWorker(t);
  const json = JSON.stringify({ title: 'Fits', body: 'small' });
  t.match(await exchange(address, post(`Content-Length: ${json.length}\r\n`, json)), /^HTTP\/1\.1 201 /);
  const chunked = `${json.length.toString(16)}\r\n${json}\r\n0\r\n\r\n`;
  t.match(await exchange(address, post('Transfer-Encoding: chunked\r\n', chunked)), /^HTTP\/1\.1 201 /);
  t.equal(await store.countArticles(), 2);
});
