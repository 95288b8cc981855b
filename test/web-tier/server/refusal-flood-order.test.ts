/**
 * Attacker's review of issue 13 ("responses are never lost or reordered", RFC 9112 §9.3.2):
 * requests pipelined after a refused one are never answered, and past MAX_IGNORED_AFTER_REFUSAL
 * of them the connection ends. It ended at once, even while an earlier request's answer was
 * still owed: a pipelining client whose first request was still being served (a POST whose
 * write committed, say) and whose second was refused (431 here) got neither answer, only a
 * closed connection. The earlier answer and the refusal go out first, in order; then it closes.
 */
import t from 'tap';
import { connectionLifetimes, openHalfOpen, parseResponses } from '../../helpers/raw-http.js';
import { createFakeHandler, fakeHandlers, startWeb } from '../../helpers/web-tier.js';

const H = 'Host: a\r\n';

for (const flood of [3, 40]) {
  t.test(`${flood} requests after a refusal behind a slow answer: the slow answer, the refusal, then close`, async (t) => {
    const app = createFakeHandler('app', { healthy: () => true, delayMs: 300 });
    const { port, web } = await startWeb(t, { handlers: { ...fakeHandlers(), app }, config: { limits: { lingeringTimeMs: 10_000, lingeringTimeoutMs: 5_000 } } });
    const [serverClosed] = connectionLifetimes(web.server, 1);
    const client = openHalfOpen(t, port);
    const slow = `POST /api/articles/ HTTP/1.1\r\n${H}Content-Length: 2\r\n\r\nhi`;
    const refused = `GET /api/x HTTP/1.1\r\n${H}${'X-F: 1\r\n'.repeat(150)}\r\n`;
    client.socket.write(slow + refused + `GET /api/y HTTP/1.1\r\n${H}\r\n`.repeat(flood));
    const ms = await Promise.race([serverClosed, new Promise<number>((resolve) => setTimeout(() => resolve(-1), 8_000).unref())]);
    const statuses = parseResponses(client.received(), true).map((response) => response.status);
    t.same(statuses, [200, 431], 'the earlier request\'s answer, then the refusal');
    t.same(app.calls.map((call) => call.pathname), ['/api/articles/'], 'nothing after the refusal reached a handler');
    // A few: the ordinary lingering close (5 s idle). A flood: cut once the answers are out.
    if (flood > 16) t.ok(ms >= 0 && ms < 4_000, `the server let go after ${ms} ms, not at the lingering bounds`);
    else t.ok(ms >= 0, `the server let go after ${ms} ms`);
  });
}
