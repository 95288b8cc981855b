import t from 'tap';
import { mkdirSync, symlinkSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { becomesDead, makeCgiDir, send, startCgiServer, writeScript, type LogLine } from './helpers.js';

const OK = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nok'\n";
/** Starts a grandchild that would sleep far past any test, reports both pids on stderr, and waits. */
const LINGERING = '#!/bin/sh\nsleep 30 &\necho "pids $$ $!" >&2\nwait\n';

function pidsFrom(line: LogLine): number[] {
  return String(line['stderr']).split(' ').slice(1).map(Number);
}

t.test('what is not exactly one executable file in the CGI directory is refused', async (t) => {
  const cgiDir = makeCgiDir(t);
  const outside = makeCgiDir(t);
  writeScript(cgiDir, 'ok.sh', OK);
  writeScript(cgiDir, 'plain.txt', OK, 0o644);
  writeScript(cgiDir, '.hidden', OK);
  mkdirSync(join(cgiDir, 'subdir'));
  writeScript(outside, 'secret.sh', OK);
  symlinkSync(join(outside, 'secret.sh'), join(cgiDir, 'link.sh'));
  const { base } = await startCgiServer(t, { cgiDir });
  const expectations: Array<[string, number]> = [
    ['/cgi-bin/ok.sh', 200],
    ['/cgi-bin/ok.sh/more/path', 200],
    ['/cgi-bin/missing.sh', 404],
    ['/cgi-bin/plain.txt', 403],
    ['/cgi-bin/subdir', 403],
    ['/cgi-bin/subdir/ok.sh', 403],
    ['/cgi-bin/', 403],
    ['/cgi-bin/.hidden', 404],
    ['/cgi-bin/link.sh', 403],
    ['/cgi-bin/..%2f..%2fetc%2fpasswd', 404],
    ['/cgi-bin/%2e%2e/secret.sh', 404],
    ['/cgi-bin/ok%00.sh', 400],
    ['/cgi-bin/ok.sh/%zz', 400],
  ];
  for (const [path, status] of expectations) {
    const reply = await send(base, path);
    t.equal(reply.status, status, `${path} → ${status}`);
    t.notMatch(reply.body, /twotier-cgi-|\/tmp\//, 'no file-system path in the answer');
  }
});

t.test('a script past the timeout → 504, its whole process group killed', async (t) => {
  const cgiDir = makeCgiDir(t);
  writeScript(cgiDir, 'slow.sh', LINGERING);
  const { base, sink } = await startCgiServer(t, { cgiDir, timeoutMs: 300 });
  const reply = await send(base, '/cgi-bin/slow.sh');
  t.equal(reply.status, 504);
  t.match(reply.body, String(reply.headers['x-request-id']));
  const pids = pidsFrom(await sink.waitFor((line) => line.msg === 'cgi script stderr'));
  t.equal(pids.length, 2);
  // 'finished' is logged when the script exited and its stdout/stderr closed: the sleeping
  // grandchild holds both, so this line cannot appear while it lives.
  const finished = await sink.waitFor((line) => line.msg === 'cgi script finished');
  t.equal(finished['signal'], 'SIGKILL');
  t.equal(finished['timedOut'], true);
  for (const pid of pids) t.ok(await becomesDead(pid), `process ${pid} is gone`);
});

t.test('a client that disconnects kills the script', async (t) => {
  const cgiDir = makeCgiDir(t);
  writeScript(cgiDir, 'slow.sh', LINGERING);
  const { base, sink } = await startCgiServer(t, { cgiDir, timeoutMs: 20_000 });
  const req = request(`${base}/cgi-bin/slow.sh`, { agent: false });
  req.on('error', () => undefined);
  req.end();
  const pids = pidsFrom(await sink.waitFor((line) => line.msg === 'cgi script stderr'));
  req.destroy();
  await sink.waitFor((line) => line.msg === 'client went away, cgi script killed');
  const finished = await sink.waitFor((line) => line.msg === 'cgi script finished');
  t.equal(finished['signal'], 'SIGKILL');
  t.equal(finished['timedOut'], false, 'killed long before its timeout');
  for (const pid of pids) t.ok(await becomesDead(pid), `process ${pid} is gone`);
});

t.test('at the process cap one more request gets 503 with Retry-After', async (t) => {
  const cgiDir = makeCgiDir(t);
  writeScript(cgiDir, 'slow.sh', LINGERING);
  writeScript(cgiDir, 'ok.sh', OK);
  const { base, sink } = await startCgiServer(t, { cgiDir, maxProcesses: 1, timeoutMs: 20_000 });
  const first = request(`${base}/cgi-bin/slow.sh`, { agent: false });
  first.on('error', () => undefined);
  first.end();
  t.teardown(() => first.destroy());
  await sink.waitFor((line) => line.msg === 'cgi script stderr');
  const rejected = await send(base, '/cgi-bin/ok.sh');
  t.equal(rejected.status, 503);
  t.equal(rejected.headers['retry-after'], '1');
  t.ok(sink.lines.some((line) => line.msg === 'cgi process cap reached'));
  first.destroy();
  await sink.waitFor((line) => line.msg === 'cgi script finished');
  const again = await send(base, '/cgi-bin/ok.sh');
  t.equal(again.status, 200, 'the slot is free again once the script is gone');
});

t.test('a script that cannot be started → 502', async (t) => {
  const cgiDir = makeCgiDir(t);
  writeScript(cgiDir, 'badshebang.sh', '#!/nonexistent/interpreter\n');
  const { base } = await startCgiServer(t, { cgiDir });
  const reply = await send(base, '/cgi-bin/badshebang.sh');
  t.equal(reply.status, 502);
});
