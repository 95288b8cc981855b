/**
 * Attacker review of /status-codes/ (issue 17): the page builds copyable shell commands from the
 * reader's Host header. A Host is client bytes: RFC 3986 §3.2.2's reg-name admits sub-delims
 * ($ ' ( ) ; & …), which the web tier rightly lets through, and the app tier can be reached
 * directly (persistent mode on its own port, CGI, embedded) with anything node's parser takes.
 * A command shown for copying must never carry shell syntax from a request, and a Host the
 * WHATWG URL parser refuses must not turn the page into a 500.
 */
import t from 'tap';
import { harness } from '../app-tier/app/fixture.js';

/** The shell text inside the page's <pre><code> blocks, with the page's HTML escapes undone. */
function commands(page: string): string[] {
  return [...page.matchAll(/<pre><code>([\s\S]*?)<\/code><\/pre>/g)].map((match) =>
    (match[1] ?? '').replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&'));
}

/** Shell syntax outside single quotes: what would run if the line were pasted. */
function unquotedShell(command: string): string {
  return command.replace(/'[^']*'/g, "''").replace(/\| (nc|head)\b/g, '').replace(/; done$/, '').replace(/^for i in \$\(seq \d+\); do/, '');
}

t.test('a hostile Host never reaches a command unquoted', async (t) => {
  const h = harness(t);
  for (const host of ['x$(id)', 'x;id', 'x`id`', "x'$(id)'", 'x&id']) {
    const page = await h.send('/status-codes/', { headers: { host } });
    t.equal(page.status, 200, `Host ${host}: the page answers`);
    const unsafe = commands(page.text).filter((command) => /[$`;&()]/.test(unquotedShell(command)));
    t.same(unsafe, [], `Host ${host}: no command has shell syntax outside quotes`);
  }
});

t.test('a Host the URL parser refuses is not a 500', async (t) => {
  const h = harness(t);
  for (const host of ['a b', 'x<y', 'x:99999', 'x|y', '[zz]']) {
    const page = await h.send('/status-codes/', { headers: { host } });
    t.equal(page.status, 200, `Host ${JSON.stringify(host)}: the page answers (with the default address)`);
  }
});

t.test('an ordinary Host is still used as the reader typed it', async (t) => {
  const h = harness(t);
  const page = await h.send('/status-codes/', { headers: { host: 'LocalHost:8081' } });
  t.match(page.text, /nc localhost 8081/);
  t.match(page.text, /&#39;http:\/\/LocalHost:8081\/api\/reports\/&#39;|&#39;http:\/\/localhost:8081\/api\/reports\/&#39;/);
  const v6 = await h.send('/status-codes/', { headers: { host: '[::1]:8080' } });
  t.match(v6.text, /nc \[::1\] 8080|nc ::1 8080/);
});
