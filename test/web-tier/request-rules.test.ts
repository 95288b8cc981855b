/**
 * Issue 17: a hand-typed request with bare-LF line endings, or without Host, gets a 400 whose
 * body says which rule it broke, from the web tier and from the app tier alike (the app port can
 * be reached directly). A well-formed request is unaffected.
 */
import t, { type Test } from 'tap';
import { RULES } from '../../common/request-rules.js';
import { startAppWorker } from '../helpers/app-worker.js';
import { rawExchange } from '../helpers/raw-http.js';
import { startWeb } from '../helpers/web-tier.js';

const CASES = [
  { name: 'bare LF everywhere', bytes: 'GET / HTTP/1.1\nHost: localhost\n\n', rule: RULES.crlf },
  { name: 'bare LF after a header', bytes: 'GET / HTTP/1.1\r\nHost: localhost\n\r\n', rule: RULES.crlf },
  { name: 'bare LF for the blank line', bytes: 'GET / HTTP/1.1\r\nHost: localhost\r\n\n', rule: RULES.crlf },
  { name: 'no Host in HTTP/1.1', bytes: 'GET /api/echo HTTP/1.1\r\nConnection: close\r\n\r\n', rule: RULES.missingHost },
];

async function check(t: Test, port: number, tier: string): Promise<void> {
  for (const { name, bytes, rule } of CASES) {
    const { responses } = await rawExchange(port, bytes, { timeoutMs: 5_000 });
    const [response] = responses;
    t.equal(response?.status, 400, `${tier}: ${name} → 400`);
    // raw-http reads latin1; the body is UTF-8 JSON (the rule has a "§").
    t.equal(JSON.parse(Buffer.from(response?.body ?? '{}', 'latin1').toString('utf8')).error?.message, rule, `${tier}: ${name}: the body names the rule`);
  }
  const fine = await rawExchange(port, 'GET /api/echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', { timeoutMs: 5_000 });
  t.equal(fine.responses[0]?.status, 200, `${tier}: CRLF and Host: 200`);
  const old = await rawExchange(port, 'GET /api/echo HTTP/1.0\r\n\r\n', { timeoutMs: 5_000 });
  t.equal(old.responses[0]?.status, 200, `${tier}: HTTP/1.0 needs no Host`);
}

t.test('the web tier names the rule', async (t) => {
  const app = await startAppWorker(t);
  const { port } = await startWeb(t, { env: { APP_UPSTREAMS: app } });
  await check(t, port, 'web tier');
});

t.test('the app tier names the rule', async (t) => {
  const app = await startAppWorker(t);
  await check(t, Number(new URL(app).port), 'app tier');
});
