import t from 'tap';
import type { IncomingMessage } from 'node:http';
import { checkRequest, clientErrorStatus, hostName, isValidHost } from '../../web-tier/limits.js';
import { rawExchange } from '../helpers/raw-http.js';
import { fakeHandlers, startWeb } from '../helpers/web-tier.js';

const LIMITS = { maxBodyBytes: 100, maxUrlBytes: 64, maxHeaderBytes: 512, maxHeaderFields: 100, headersTimeoutMs: 1_000, requestTimeoutMs: 2_000, keepAliveTimeoutMs: 1_000 };

function fakeRequest(fields: Partial<IncomingMessage> & { rawHeaders?: string[] }): IncomingMessage {
  const rawHeaders = fields.rawHeaders ?? ['Host', 'a'];
  const headers: Record<string, string> = {};
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const name = (rawHeaders[index] ?? '').toLowerCase();
    headers[name] ??= rawHeaders[index + 1] ?? '';
  }
  return { method: 'GET', url: '/', httpVersion: '1.1', httpVersionMajor: 1, httpVersionMinor: 1, headers, ...fields, rawHeaders } as unknown as IncomingMessage;
}

t.test('checkRequest: what node lets through', async (t) => {
  t.equal(checkRequest(fakeRequest({}), LIMITS), undefined);
  t.match(checkRequest(fakeRequest({ httpVersionMajor: 0, httpVersion: '0.9' }), LIMITS), { code: 'WEB_ERR_BAD_REQUEST' });
  t.match(checkRequest(fakeRequest({ method: 'TRACE' }), LIMITS), { code: 'WEB_ERR_NOT_IMPLEMENTED' });
  t.match(checkRequest(fakeRequest({ url: `/${'a'.repeat(64)}` }), LIMITS), { code: 'WEB_ERR_URI_TOO_LONG' });
  t.equal(checkRequest(fakeRequest({ url: `/${'a'.repeat(63)}` }), LIMITS), undefined, 'at the limit passes');
  t.match(checkRequest(fakeRequest({ rawHeaders: ['Host', 'a', 'X-Big', 'b'.repeat(600)] }), LIMITS), { code: 'WEB_ERR_HEADERS_TOO_LARGE' });
  t.match(checkRequest(fakeRequest({ rawHeaders: ['Host', 'a', 'host', 'b'] }), LIMITS), { code: 'WEB_ERR_BAD_REQUEST', reason: 'duplicate Host' });
  t.match(checkRequest(fakeRequest({ rawHeaders: [] }), LIMITS), { reason: 'missing Host' });
  t.equal(checkRequest(fakeRequest({ rawHeaders: [], httpVersionMinor: 0, httpVersion: '1.0' }), LIMITS), undefined, 'HTTP/1.0 may omit Host');
  t.equal(checkRequest(fakeRequest({ rawHeaders: [] }), LIMITS, 'a.example'), undefined, 'absolute-form supplies the authority');
  t.match(checkRequest(fakeRequest({ rawHeaders: ['Host', 'a b'] }), LIMITS), { reason: 'invalid Host' });
  t.match(checkRequest(fakeRequest({ rawHeaders: ['Host', 'a', 'Transfer-Encoding', 'gzip, chunked'] }), LIMITS), { code: 'WEB_ERR_NOT_IMPLEMENTED' });
  t.match(checkRequest(fakeRequest({ rawHeaders: ['Host', 'a', 'Transfer-Encoding', 'chunked, chunked'] }), LIMITS), { code: 'WEB_ERR_BAD_REQUEST' });
  t.match(checkRequest(fakeRequest({ rawHeaders: ['Host', 'a', 'Transfer-Encoding', 'chunked'], httpVersionMinor: 0 }), LIMITS), { reason: 'Transfer-Encoding in HTTP/1.0' });
  t.match(checkRequest(fakeRequest({ rawHeaders: ['Host', 'a', 'Content-Length', '101'] }), LIMITS), { code: 'WEB_ERR_BODY_TOO_LARGE' });
  t.equal(checkRequest(fakeRequest({ rawHeaders: ['Host', 'a', 'Content-Length', '100'] }), LIMITS), undefined);
});

t.test('serverNames: another Host (or absolute-form authority) is misdirected → 421', async (t) => {
  const named = { ...LIMITS, serverNames: ['www.example', '127.0.0.1', '[::1]'] };
  t.equal(checkRequest(fakeRequest({ rawHeaders: ['Host', 'WWW.example:8080'] }), named), undefined, 'case and port do not matter');
  t.equal(checkRequest(fakeRequest({ rawHeaders: ['Host', '[::1]:80'] }), named), undefined);
  t.match(checkRequest(fakeRequest({ rawHeaders: ['Host', 'evil.example'] }), named), { code: 'WEB_ERR_MISDIRECTED' });
  t.match(checkRequest(fakeRequest({ rawHeaders: ['Host', 'www.example'] }), named, 'evil.example'), { code: 'WEB_ERR_MISDIRECTED' }, 'the authority of absolute-form counts');
  t.equal(checkRequest(fakeRequest({ rawHeaders: ['Host', 'anything.example'] }), LIMITS), undefined, 'no names configured: any valid Host');
  t.equal(hostName('Example.COM:80'), 'example.com');
});

t.test('isValidHost', async (t) => {
  for (const host of ['a', 'example.com', 'example.com:8080', '127.0.0.1:1', '[::1]', '[::1]:8080', 'xn--bcher-kva.example']) t.ok(isValidHost(host), host);
  for (const host of ['', 'a b', 'a/b', 'a@b', 'a:99999', 'a:1:2', '[::1', 'a\\b', 'évil']) t.notOk(isValidHost(host), host);
});

t.test('clientErrorStatus maps parser errors', async (t) => {
  const error = (code: string, rawPacket?: string): Error & { code: string; rawPacket?: Buffer } =>
    Object.assign(new Error(code), { code }, rawPacket === undefined ? {} : { rawPacket: Buffer.from(rawPacket) });
  t.same(clientErrorStatus(error('HPE_INVALID_METHOD'), LIMITS), { status: 501, code: 'WEB_ERR_NOT_IMPLEMENTED' });
  t.same(clientErrorStatus(error('HPE_HEADER_OVERFLOW', `GET /${'a'.repeat(100)}`), LIMITS), { status: 414, code: 'WEB_ERR_URI_TOO_LONG' });
  t.same(clientErrorStatus(error('HPE_HEADER_OVERFLOW', 'GET / HTTP/1.1\r\nX: aaaa'), LIMITS), { status: 431, code: 'WEB_ERR_HEADERS_TOO_LARGE' });
  t.equal(clientErrorStatus(error('ECONNRESET'), LIMITS), undefined);
  t.equal(clientErrorStatus(error('HPE_INVALID_CHUNK_SIZE'), LIMITS)?.status, 400);
  t.equal(clientErrorStatus(error('ERR_HTTP_REQUEST_TIMEOUT'), LIMITS)?.status, 408);
});

const H = 'Host: a\r\n';
/** Raw requests, each followed by a pipelined "GET /smuggled" that must never be answered. */
const CASES: readonly [string, string, number][] = [
  ['Content-Length + Transfer-Encoding', `POST /api/x HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
  ['duplicate Content-Length (same value)', `POST /api/x HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`, 400],
  ['duplicate Content-Length (different)', `POST /api/x HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`, 400],
  ['list-valued Content-Length', `POST /api/x HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello`, 400],
  ['invalid Content-Length', `POST /api/x HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello`, 400],
  ['obfuscated Transfer-Encoding', `POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`, 400],
  ['Transfer-Encoding with space before colon', `POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`, 400],
  ['non-final chunked', `POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`, 400],
  ['two Transfer-Encoding fields', `POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n`, 400],
  ['unknown coding before chunked', `POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`, 501],
  ['chunked with HTTP/1.0', `POST /api/x HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
  ['bad chunk size', `POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\n\r\n`, 400],
  ['overflowing chunk size', `POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nabc\r\n`, 400],
  ['obs-fold', `GET / HTTP/1.1\r\n${H}X-A: b\r\n c\r\n\r\n`, 400],
  ['header without colon', `GET / HTTP/1.1\r\n${H}XAb\r\n\r\n`, 400],
  ['bare LF line ends', 'GET / HTTP/1.1\nHost: a\n\n', 400],
  ['malformed request line', `GET /x HTTP/1.1 extra\r\n${H}\r\n`, 400],
  ['HTTP/0.9 style line', 'GET /\r\n\r\n', 400],
  ['missing Host', 'GET / HTTP/1.1\r\n\r\n', 400],
  ['duplicate Host', `GET / HTTP/1.1\r\n${H}Host: b\r\n\r\n`, 400],
  ['invalid Host', 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n', 400],
  ['TRACE', `TRACE / HTTP/1.1\r\n${H}\r\n`, 501],
  ['CONNECT', 'CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n', 501],
  ['unknown method', `BREW / HTTP/1.1\r\n${H}\r\n`, 501],
  ['URL too long', `GET /${'a'.repeat(300)} HTTP/1.1\r\n${H}\r\n`, 414],
  ['URL far too long', `GET /${'a'.repeat(5_000)} HTTP/1.1\r\n${H}\r\n`, 414],
  ['headers too large', `GET / HTTP/1.1\r\n${H}X-Big: ${'b'.repeat(600)}\r\n\r\n`, 431],
  ['headers far too large', `GET / HTTP/1.1\r\n${H}X-Big: ${'b'.repeat(5_000)}\r\n\r\n`, 431],
  ['Content-Length over the limit', `POST /api/x HTTP/1.1\r\n${H}Content-Length: 101\r\n\r\n`, 413],
  ['Content-Length over the limit with Expect', `POST /api/x HTTP/1.1\r\n${H}Content-Length: 1000000\r\nExpect: 100-continue\r\n\r\n`, 413],
];

t.test('limits and smuggling over raw bytes: one error response, then the connection is closed', async (t) => {
  const handlers = fakeHandlers();
  const { port } = await startWeb(t, { handlers, config: { limits: { maxBodyBytes: 100, maxUrlBytes: 256, maxHeaderBytes: 512 } } });
  for (const [name, bytes, status] of CASES) {
    const exchange = await rawExchange(port, `${bytes}GET /smuggled HTTP/1.1\r\n${H}\r\n`, { timeoutMs: 2_000 });
    t.equal(exchange.responses[0]?.status, status, `${name} → ${status}`);
    t.equal(exchange.responses.length, 1, `${name}: never a second response`);
    t.ok(exchange.closedByServer, `${name}: connection closed`);
    t.notMatch(exchange.raw, /100 Continue/, `${name}: no 100 Continue`);
    t.equal(exchange.responses[0]?.headers['x-served-by'], 'web', `${name}: answered by the web tier`);
    t.equal(exchange.responses[0]?.headers['connection'], 'close', `${name}: says so`);
  }
  const reached = [...handlers.static.calls, ...handlers.app.calls, ...handlers.cgi.calls].map((call) => call.url);
  t.same(reached, [], 'no handler saw any of them');
});

t.test('bodies at the limit pass; 100-continue works under the limit', async (t) => {
  const handlers = fakeHandlers();
  const { port } = await startWeb(t, { handlers, config: { limits: { maxBodyBytes: 100 } } });
  const body = 'x'.repeat(100);
  const atLimit = await rawExchange(port, `POST /api/x HTTP/1.1\r\n${H}Content-Length: 100\r\n\r\n${body}`, { responses: 1 });
  t.equal(atLimit.responses[0]?.status, 200);
  t.match(atLimit.responses[0]?.body, /app POST \/api\/x 100/);
  const chunked = await rawExchange(port, `POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, { responses: 1 });
  t.equal(chunked.responses[0]?.status, 200, 'chunked under the limit passes (the proxy counts it while streaming)');
  const continued = await new Promise<string>((resolve, reject) => {
    import('node:net').then(({ connect }) => {
      const socket = connect({ host: '127.0.0.1', port });
      let raw = '';
      socket.setEncoding('latin1');
      socket.on('error', reject);
      socket.write(`POST /api/x HTTP/1.1\r\n${H}Content-Length: 5\r\nExpect: 100-continue\r\n\r\n`);
      socket.on('data', (chunk: string) => {
        raw += chunk;
        // Only after the interim response does the client send its body.
        if (raw.startsWith('HTTP/1.1 100 Continue\r\n\r\n') && !raw.includes('200 OK')) socket.write('hello');
        if (raw.includes('app POST /api/x 5')) {
          socket.destroy();
          resolve(raw);
        }
      });
    }, reject);
  });
  t.match(continued, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK/);
});
