/**
 * What node's parser rejects, on a connection that already carries requests: RFC 9112 §9.3.2
 * (responses in request order) and §3 (400 for what is not a request line, 501 only for a
 * well-formed method this server does not implement). Real handlers: static from the package's
 * public/, the proxy against a stub upstream, CGI from a temp cgi-bin.
 */
import t from 'tap';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rawExchange } from '../../helpers/raw-http.js';
import { startUpstream } from '../../helpers/upstream.js';
import { startWeb } from '../../helpers/web-tier.js';

const H = 'Host: a\r\n';
/** Bytes that can never start a request: "0" is not followed by a space (RFC 9112 §3). */
const GARBAGE = '0\r\n\r\n';

t.test('a valid request and unparseable bytes in one write: its response first, in full, then the error, then close', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-parser-errors-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cgiDir = join(dir, 'cgi-bin');
  mkdirSync(cgiDir);
  writeFileSync(join(cgiDir, 'hello'), '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\nhello cgi\\n"\n');
  chmodSync(join(cgiDir, 'hello'), 0o755);
  const created: string[] = [];
  const upstream = await startUpstream(t, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      created.push(body);
      // Slower than the parser: the error for the trailing bytes is known long before this.
      setTimeout(() => {
        res.writeHead(201, { 'Content-Type': 'application/json', 'X-Served-By': 'app' });
        res.end('{"id":1}');
      }, 100);
    });
  });
  const { port, log } = await startWeb(t, { config: { proxy: { upstreams: [upstream.url], activeHealth: { intervalMs: 0 } }, cgi: { dir: cgiDir } }, env: { WEB_CGI: 'on' } });
  const cases: readonly [string, string, number, RegExp][] = [
    ['static', `GET /static/site.css HTTP/1.1\r\n${H}\r\n`, 200, /\S/],
    ['proxied POST', `POST /api/articles/ HTTP/1.1\r\n${H}Content-Type: application/json\r\nContent-Length: 11\r\n\r\n{"title":1}`, 201, /^\{"id":1\}$/],
    ['CGI', `GET /cgi-bin/hello HTTP/1.1\r\n${H}\r\n`, 200, /^hello cgi\n$/],
  ];
  for (const [name, request, status, body] of cases) {
    const exchange = await rawExchange(port, request + GARBAGE, { timeoutMs: 5_000 });
    t.same(exchange.responses.map((response) => response.status), [status, 400], `${name}: its own ${status}, then 400 for the garbage`);
    t.match(exchange.responses[0]?.body ?? '', body, `${name}: the first response is whole`);
    t.ok(exchange.closedByServer, `${name}: then the connection is closed`);
  }
  t.same(created, ['{"title":1}'], 'the article POST reached the app once, and its 201 reached the client');
  const lines = await log.waitForAccessLines(6, 3_000);
  t.equal(lines.filter((line) => line['status'] === 400).length, 3, 'each garbage tail has its own access line');
});

t.test('pipelined: two valid requests, then garbage: both answered in order before the error', async (t) => {
  const { port } = await startWeb(t, {});
  const exchange = await rawExchange(port, `GET /static/site.css HTTP/1.1\r\n${H}\r\nHEAD /static/site.js HTTP/1.1\r\n${H}\r\n${GARBAGE}`, { timeoutMs: 5_000, headAt: [1] });
  t.same(exchange.responses.map((response) => response.status), [200, 200, 400]);
  t.ok(exchange.closedByServer);
});

t.test('RFC 9112 §3: a request line that does not match the grammar is 400; an unknown well-formed method is 501', async (t) => {
  const { port } = await startWeb(t, {});
  const cases: readonly [string, string, number][] = [
    ['invalid character in the method', `GE@T / HTTP/1.1\r\n${H}\r\n`, 400],
    ['not a request line at all', GARBAGE, 400],
    ['binary bytes', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', 400],
    ['lower-case unknown method (a token, but not one we implement)', `brew / HTTP/1.1\r\n${H}\r\n`, 501],
    ['unknown method', `BREW / HTTP/1.1\r\n${H}\r\n`, 501],
    ['unknown method with a token character', `M-SEARCH2 * HTTP/1.1\r\n${H}\r\n`, 501],
  ];
  for (const [name, bytes, status] of cases) {
    const exchange = await rawExchange(port, bytes, { timeoutMs: 3_000 });
    t.equal(exchange.responses[0]?.status, status, `${name} → ${status}`);
    t.ok(exchange.closedByServer, `${name}: closed`);
  }
});
