import t from 'tap';
import { Agent } from 'node:http';
import { becomesDead, makeCgiDir, send, startCgiServer, writeScript } from './helpers.js';

t.test('a large body is streamed through whole (backpressure, no buffering limit)', async (t) => {
  const cgiDir = makeCgiDir(t);
  writeScript(cgiDir, 'big.sh', "#!/bin/sh\nprintf 'Content-Type: application/octet-stream\\n\\n'\nexec head -c 3000000 /dev/zero\n");
  const { base } = await startCgiServer(t, { cgiDir });
  const reply = await send(base, '/cgi-bin/big.sh');
  t.equal(reply.status, 200);
  t.equal(reply.headers['transfer-encoding'], 'chunked', 'no length known: chunked');
  t.equal(reply.body.length, 3_000_000);
});

t.test('one keep-alive connection carries several CGI responses', async (t) => {
  const cgiDir = makeCgiDir(t);
  writeScript(cgiDir, 'cat.sh', "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nexec cat\n");
  writeScript(cgiDir, 'sized.sh', "#!/bin/sh\nprintf 'Content-Type: text/plain\\nContent-Length: 2\\n\\nok'\n");
  const { base } = await startCgiServer(t, { cgiDir });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const ports = new Set<number>();
  agent.on('free', (socket: { localPort?: number }) => {
    if (socket.localPort !== undefined) ports.add(socket.localPort);
  });
  const first = await send(base, '/cgi-bin/cat.sh', { method: 'POST', body: 'one', agent });
  const second = await send(base, '/cgi-bin/sized.sh', { agent });
  const third = await send(base, '/cgi-bin/cat.sh', { method: 'POST', body: 'three', agent });
  t.same([first.body, second.body, third.body], ['one', 'ok', 'three']);
  t.equal(ports.size, 1, 'all three on one connection');
});

t.test('concurrent requests each get their own process and answer', async (t) => {
  const cgiDir = makeCgiDir(t);
  writeScript(cgiDir, 'who.sh', "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n%s %s' \"$QUERY_STRING\" \"$$\"\n");
  const { base } = await startCgiServer(t, { cgiDir });
  const replies = await Promise.all(Array.from({ length: 8 }, (_, index) => send(base, `/cgi-bin/who.sh?n=${index}`)));
  const pids = new Set<string>();
  replies.forEach((reply, index) => {
    const [query, pid] = reply.body.split(' ');
    t.equal(query, `n=${index}`);
    pids.add(pid ?? '');
  });
  t.equal(pids.size, 8, 'one process per request');
});

t.test('close() kills the scripts still running', async (t) => {
  const cgiDir = makeCgiDir(t);
  writeScript(cgiDir, 'slow.sh', '#!/bin/sh\nsleep 30 &\necho "pids $$ $!" >&2\nwait\n');
  const { base, sink, handler } = await startCgiServer(t, { cgiDir, timeoutMs: 20_000 });
  const pending = send(base, '/cgi-bin/slow.sh');
  const line = await sink.waitFor((entry) => entry.msg === 'cgi script stderr');
  const pids = String(line['stderr']).split(' ').slice(1).map(Number);
  await handler.close();
  const reply = await pending;
  t.equal(reply.status, 502, 'the killed script gave no response');
  for (const pid of pids) t.ok(await becomesDead(pid), `process ${pid} is gone`);
  const after = await send(base, '/cgi-bin/slow.sh');
  t.equal(after.status, 503, 'a closed gateway starts nothing');
});
