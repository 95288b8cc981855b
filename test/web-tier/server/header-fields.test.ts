/**
 * Header fields beyond the limit are refused (431), never dropped: node:http keeps the first
 * maxHeadersCount (2000) fields and silently drops the rest, so without a count the app sees a
 * truncated header set. Both tiers count (WEB_MAX_HEADER_FIELDS, APP_MAX_HEADER_FIELDS).
 */
import t from 'tap';
import { PassThrough } from 'node:stream';
import { createLogger } from '../../../common/logger.js';
import { createWorkerServer } from '../../../app-tier/worker.js';
import { DEFAULTS as APP_DEFAULTS, loadConfig as loadAppConfig } from '../../../app-tier/config.js';
import { loadConfig } from '../../../web-tier/config.js';
import type { Application } from '../../../common/app-interface.js';
import { rawExchange } from '../../helpers/raw-http.js';
import { fakeHandlers, startWeb } from '../../helpers/web-tier.js';

/** `count` fields (Host included), 5 bytes each: 3,000 of them fit node's default 16 KiB maxHeaderSize. */
function requestWithFields(count: number, path = '/api/echo'): string {
  const lines = ['Host: a'];
  for (let index = 1; index < count; index += 1) lines.push('x:1');
  return `GET ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
}

t.test('config: WEB_MAX_HEADER_FIELDS and APP_MAX_HEADER_FIELDS', async (t) => {
  t.equal(loadConfig(undefined, {}).limits.maxHeaderFields, 100, 'web default: Apache LimitRequestFields');
  t.equal(loadConfig(undefined, { WEB_MAX_HEADER_FIELDS: '250' }).limits.maxHeaderFields, 250);
  t.throws(() => loadConfig(undefined, { WEB_MAX_HEADER_FIELDS: '0' }));
  t.ok(loadAppConfig(undefined, {}).maxHeaderFields > 100, 'app default leaves room for the fields the proxy adds');
  t.equal(loadAppConfig(undefined, { APP_MAX_HEADER_FIELDS: '250' }).maxHeaderFields, 250);
});

t.test('web tier: 3,000 short fields under the byte limit → 431; the limit itself passes', async (t) => {
  const handlers = fakeHandlers();
  const { port } = await startWeb(t, { handlers, config: { limits: { maxHeaderBytes: 64 * 1024 } } });
  const many = await rawExchange(port, requestWithFields(3_000), { timeoutMs: 3_000 });
  t.equal(many.responses[0]?.status, 431, '3,000 fields → 431');
  t.equal(many.responses[0]?.headers['x-served-by'], 'web');
  t.ok(many.closedByServer, 'then closed');
  const over = await rawExchange(port, requestWithFields(101), { timeoutMs: 3_000 });
  t.equal(over.responses[0]?.status, 431, '101 fields → 431');
  const at = await rawExchange(port, requestWithFields(100), { responses: 1, timeoutMs: 3_000 });
  t.equal(at.responses[0]?.status, 200, '100 fields pass');
  t.equal(handlers.app.calls.length, 1, 'only the request at the limit reached the app');
});

t.test('web tier: a raised limit above node\'s 2000 passes every field through, none dropped', async (t) => {
  const seen: number[] = [];
  const handlers = fakeHandlers();
  const app = {
    ...handlers.app,
    handle: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
      seen.push(req.rawHeaders.length / 2);
      res.writeHead(204);
      res.end();
    },
  };
  const { port } = await startWeb(t, { handlers: { ...handlers, app }, config: { limits: { maxHeaderBytes: 64 * 1024, maxHeaderFields: 5_000 } } });
  const exchange = await rawExchange(port, requestWithFields(3_000), { responses: 1, timeoutMs: 3_000 });
  t.equal(exchange.responses[0]?.status, 204);
  t.same(seen, [3_000], 'the handler saw all 3,000 fields');
});

t.test('app tier: more fields than APP_MAX_HEADER_FIELDS → 431 before the application', async (t) => {
  const seen: number[] = [];
  const app: Application = {
    async handle() {
      seen.push(1);
      return { status: 200, headers: { 'Content-Type': 'text/plain' }, body: 'ok' };
    },
    async close() {},
  };
  const logger = createLogger({ tier: 'app', level: 'silent', destination: new PassThrough() });
  const worker = createWorkerServer({ config: { ...APP_DEFAULTS, port: 0, maxHeaderFields: 100, headersTimeoutMs: 66_000 }, logger, app });
  const address = await worker.listen();
  t.teardown(() => worker.close());
  const many = await rawExchange(address.port, requestWithFields(3_000, '/api/articles/'), { timeoutMs: 3_000 });
  t.equal(many.responses[0]?.status, 431, '3,000 fields → 431');
  t.match(many.responses[0]?.body ?? '', /APP_ERR_HEADERS_TOO_LARGE/);
  t.ok(many.closedByServer, 'then closed');
  const at = await rawExchange(address.port, requestWithFields(100, '/api/articles/'), { responses: 1, timeoutMs: 3_000 });
  t.equal(at.responses[0]?.status, 200, '100 fields pass');
  t.equal(seen.length, 1, 'the application saw only the request at the limit');
});
