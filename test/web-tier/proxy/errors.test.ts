import t from 'tap';
import { TwotierError } from '../../../common/errors.js';
import { ClientAbortedError, errorCode, isConnectionReset, toUpstreamError, upstreamUnavailable, UpstreamTimeoutError } from '../../../web-tier/proxy/errors.js';
import { upstreamTarget } from '../../../web-tier/proxy/handler.js';

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:3000`), { code });
}

t.test('upstream failures map to 502/504, never 500', async (t) => {
  const cases: [unknown, string, number][] = [
    [errno('ECONNREFUSED'), 'WEB_ERR_UPSTREAM_REFUSED', 502],
    [errno('ENOTFOUND'), 'WEB_ERR_UPSTREAM_REFUSED', 502],
    [errno('EAI_AGAIN'), 'WEB_ERR_UPSTREAM_REFUSED', 502],
    [errno('EHOSTUNREACH'), 'WEB_ERR_UPSTREAM_REFUSED', 502],
    [errno('ECONNRESET'), 'WEB_ERR_UPSTREAM_RESET', 502],
    [errno('EPIPE'), 'WEB_ERR_UPSTREAM_RESET', 502],
    [errno('HPE_INVALID_CONSTANT'), 'WEB_ERR_UPSTREAM_BAD_RESPONSE', 502],
    [new Error('odd'), 'WEB_ERR_UPSTREAM_BAD_RESPONSE', 502],
    ['not even an error', 'WEB_ERR_UPSTREAM_BAD_RESPONSE', 502],
    [errno('ETIMEDOUT'), 'WEB_ERR_UPSTREAM_TIMEOUT', 504],
    [new UpstreamTimeoutError('connect', 100), 'WEB_ERR_UPSTREAM_TIMEOUT', 504],
    [new UpstreamTimeoutError('response', 100), 'WEB_ERR_UPSTREAM_TIMEOUT', 504],
  ];
  for (const [error, code, status] of cases) {
    const mapped = toUpstreamError(error, 'http://127.0.0.1:3000');
    t.equal(mapped.code, code, String(errorCode(error)));
    t.equal(mapped.status, status);
    t.equal(mapped.cause, error, 'the cause is kept for the log');
  }
});

t.test('a typed error passes through unchanged', async (t) => {
  const tooLarge = new TwotierError('WEB_ERR_BODY_TOO_LARGE', 'too large');
  t.equal(toUpstreamError(tooLarge, 'x'), tooLarge);
});

t.test('codes and resets', async (t) => {
  t.equal(errorCode(errno('ECONNRESET')), 'ECONNRESET');
  t.equal(errorCode(new UpstreamTimeoutError('connect', 1)), 'UPSTREAM_TIMEOUT');
  t.equal(errorCode(new ClientAbortedError()), 'CLIENT_ABORTED');
  t.equal(errorCode(new TypeError('x')), 'TypeError');
  t.equal(errorCode(null), 'UNKNOWN');
  t.equal(isConnectionReset(errno('ECONNRESET')), true);
  t.equal(isConnectionReset(errno('ECONNREFUSED')), false);
  t.equal(isConnectionReset(new UpstreamTimeoutError('response', 1)), false);
});

t.test('503 carries Retry-After', async (t) => {
  const error = upstreamUnavailable(7);
  t.equal(error.status, 503);
  t.equal(error.code, 'WEB_ERR_UPSTREAM_UNAVAILABLE');
  t.same(error.headers, { 'Retry-After': '7' });
});

t.test('the upstream target: as received, or classify.ts’s origin-form when it differs', async (t) => {
  t.equal(upstreamTarget('/api/a//b?x=%20&y', { pathname: '/api/a//b', search: '?x=%20&y' }), '/api/a//b?x=%20&y');
  t.equal(upstreamTarget("/api/x?q='1'", { pathname: '/api/x', search: '?q=%271%27' }), "/api/x?q='1'", 'the raw query wins');
  t.equal(upstreamTarget('/api/../secret', { pathname: '/secret', search: '' }), '/secret', 'a normalised path is used');
  t.equal(upstreamTarget('http://site.example/api/x?y=1', { pathname: '/api/x', search: '?y=1' }), '/api/x?y=1', 'absolute-form becomes origin-form');
  t.equal(upstreamTarget(undefined, { pathname: '/api/x', search: '' }), '/api/x');
});
