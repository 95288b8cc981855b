/**
 * The request pipeline's order (web-tier/pipeline/handle-request.ts): limits run before the
 * request-target is classified, and the mode (WEB_DYNAMIC) is chosen where handlers are built,
 * so nothing before the handler sees a path the mode rewrote.
 */
import t from 'tap';
import { rawExchange } from '../../helpers/raw-http.js';
import { fakeHandlers, startWeb } from '../../helpers/web-tier.js';

const H = 'Host: a\r\n';
/** One request per second, no burst beyond it. */
const RATE_1 = { WEB_PEER_RATE_PER_SEC: '1', WEB_PEER_RATE_BURST: '1' };

t.test('limits before classification: a client over its rate gets 429 whatever its target, a malformed one included', async (t) => {
  const handlers = fakeHandlers();
  const { port } = await startWeb(t, { handlers, env: RATE_1 });
  // Pipelined in one write: both arrive within the same second, so the bucket (1 token) cannot refill between them.
  const over = await rawExchange(port, `GET / HTTP/1.1\r\n${H}\r\nGET /a%zz HTTP/1.1\r\n${H}\r\n`, { responses: 2, timeoutMs: 3_000 });
  t.same(over.responses.map((response) => response.status), [200, 429], 'the second request is over the rate: 429, not a 400 from classification');
  t.ok(over.responses[1]?.headers['retry-after'], 'with Retry-After');
});

t.test('limits before classification: a malformed target takes its token like any other request', async (t) => {
  const { port } = await startWeb(t, { handlers: fakeHandlers(), env: RATE_1 });
  const spent = await rawExchange(port, `GET /b%zz HTTP/1.1\r\n${H}\r\nGET / HTTP/1.1\r\n${H}\r\n`, { responses: 2, timeoutMs: 3_000 });
  t.same(spent.responses.map((response) => response.status), [400, 429], 'the request after a malformed one is over the rate');
});

t.test('health and operator paths stay exempt from the rate limit when limits run first', async (t) => {
  const { port } = await startWeb(t, { handlers: fakeHandlers(), env: RATE_1 });
  const requests = ['/', '/healthz', '/readyz?full', '/-/metrics', '/healthz'].map((path) => `GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`).join('');
  const answered = await rawExchange(port, requests, { responses: 5, timeoutMs: 5_000 });
  t.same(answered.responses.map((response) => response.status), [200, 200, 200, 200, 200]);
});

t.test('WEB_DYNAMIC=cgi: the web tier refuses an /api/ request as it does in proxy mode (JSON), before any CGI path exists', async (t) => {
  const statuses: Record<string, { status: number | undefined; type: string | undefined }[]> = {};
  for (const dynamic of ['proxy', 'cgi']) {
    const handlers = fakeHandlers();
    const { port } = await startWeb(t, { handlers, env: { WEB_DYNAMIC: dynamic, ...RATE_1 } });
    const tooLarge = await rawExchange(port, `POST /api/articles/ HTTP/1.1\r\n${H}Content-Length: 99999999\r\n\r\n`, { responses: 1, timeoutMs: 3_000 });
    const limited = await rawExchange(port, `GET /api/echo HTTP/1.1\r\nHost: b\r\n\r\nGET /api/echo HTTP/1.1\r\nHost: b\r\n\r\n`, { responses: 2, timeoutMs: 3_000 });
    statuses[dynamic] = [tooLarge.responses[0], limited.responses[1]].map((response) => ({ status: response?.status, type: response?.headers['content-type'] }));
    t.equal(handlers.cgi.calls.length + handlers.app.calls.length, 1, `${dynamic}: only the allowed request reached a handler`);
  }
  t.same(statuses['proxy'], [{ status: 413, type: 'application/json; charset=utf-8' }, { status: 429, type: 'application/json; charset=utf-8' }]);
  t.same(statuses['cgi'], statuses['proxy'], 'the same answers in CGI mode');
});
