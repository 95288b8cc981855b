/** The README example checker itself: markers, start commands and the output comparison. */
import t from 'tap';
import { compareOutput, extractExamples, normalizeTokens, parseStart, withPorts } from './examples.js';

t.test('markers: a command block and the output block after it, with the start command', async (t) => {
  const md = [
    'text',
    '<!-- check -->',
    '```sh',
    'curl -i http://127.0.0.1:8080/',
    '```',
    '',
    '```text',
    'HTTP/1.1 200 OK',
    '```',
    '<!-- check start="WEB_CGI=on npm start" -->',
    '```sh',
    'echo hi',
    '```',
    '```',
    'hi',
    '```',
  ].join('\n');
  const found = extractExamples(md);
  t.same(found, [
    { line: 3, start: 'npm start', command: 'curl -i http://127.0.0.1:8080/', expected: 'HTTP/1.1 200 OK' },
    { line: 11, start: 'WEB_CGI=on npm start', command: 'echo hi', expected: 'hi' },
  ]);
  t.throws(() => extractExamples('<!-- check -->\n```sh\necho\n```\nno output block'), /README.md:1/);
});

t.test('start commands', async (t) => {
  t.same(parseStart('npm start'), { entry: 'start', env: {} });
  t.same(parseStart('WEB_DYNAMIC=embedded WEB_X=a=b npm run web'), { entry: 'web', env: { WEB_DYNAMIC: 'embedded', WEB_X: 'a=b' } });
  t.throws(() => parseStart('pm2 start'));
});

const response = (headers: string[], body: string[]): string => ['HTTP/1.1 200 OK', ...headers, '', ...body].join('\r\n');

t.test('headers: any order and case, volatile values by presence, others only with a … line', async (t) => {
  const real = response(['Content-Type: application/json', 'Date: Wed, 02 Dec 2026 03:31:21 GMT', 'X-Served-By: app'], ['{}']);
  t.same(compareOutput(['HTTP/1.1 200 OK', 'x-served-by: app', 'date: Thu, 01 Jan 2026 00:00:00 GMT', 'content-type: application/json', '', '{}'].join('\n'), real), []);
  t.match(compareOutput(['HTTP/1.1 200 OK', 'X-Served-By: app', '', '{}'].join('\n'), real)[0], /content-type, date/);
  t.same(compareOutput(['HTTP/1.1 200 OK', 'X-Served-By: app', '…', '', '{}'].join('\n'), real), []);
  t.match(compareOutput(['HTTP/1.1 200 OK', 'X-Served-By: static', '…', '', '{}'].join('\n'), real)[0], /x-served-by: README "static", got "app"/);
  t.match(compareOutput(['HTTP/1.1 404 Not Found', '…', '', '{}'].join('\n'), real)[0], /status line/);
  t.match(compareOutput(['HTTP/1.1 200 OK', 'Location: /x', '…', '', '{}'].join('\n'), real)[0], /no such header/);
});

t.test('bodies: lines in order, … for lines or text, ids and times by shape', async (t) => {
  const body = ['{', '  "id": "2f1c9a4e-0b7d-4c55-9a61-8d0e3c2b1a90",', '  "at": "2026-12-02T03:31:14.096Z",', '  "worker": { "pid": 23481 },', '  "n": 4', '}'];
  const real = response(['X: 1'], body);
  t.same(compareOutput(['HTTP/1.1 200 OK', 'X: 1', '', '{', '  "id": "92d5a116-dbae-42ae-9e7e-c7329ed1d527",', '…', '  "n": 4', '}'].join('\n'), real), []);
  t.same(compareOutput(['HTTP/1.1 200 OK', 'X: 1', '', '{', '  "id": "…",', '  "at": "2025-01-01T00:00:00Z",', '  "worker": { "pid": 1 },', '  "n": …', '}'].join('\n'), real), []);
  t.match(compareOutput(['HTTP/1.1 200 OK', 'X: 1', '', '{', '…', '  "n": 5', '}'].join('\n'), real)[0], /body differs/);
  t.match(compareOutput(['HTTP/1.1 200 OK', 'X: 1', '', '{', '}'].join('\n'), real)[0], /body differs/);
  t.same(compareOutput('200 OK app\nGET /x', '200 OK app\nGET /x\n'), [], 'plain output');
  t.match(compareOutput('one', response([], []))[0], /status line: README "undefined", got "HTTP\/1.1 200 OK"/);
  t.equal(normalizeTokens('curl/8.5.0 pid: 12'), 'curl/<version> pid: <pid>');
});

t.test('ports: README\'s in commands, the real ones back in output', async (t) => {
  const ports = new Map([['8080', '41000'], ['3000', '42000']]);
  t.equal(withPorts('curl 127.0.0.1:8080/ && nc 127.0.0.1 8080; :3000 18080', ports), 'curl 127.0.0.1:41000/ && nc 127.0.0.1 41000; :42000 18080');
});
