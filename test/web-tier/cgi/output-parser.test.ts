import t from 'tap';
import { CgiHeadParser, CgiOutputError, interpretHead } from '../../../web-tier/cgi/output-parser.js';

t.test('the header section may arrive a byte at a time, CRLF split across chunks', async (t) => {
  const output = Buffer.from('Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nbody bytes');
  const parser = new CgiHeadParser(1024);
  let result;
  for (let index = 0; index < output.length && result === undefined; index += 1) {
    result = parser.push(output.subarray(index, index + 1));
  }
  t.ok(result);
  if (result === undefined || result.head.kind !== 'document') return;
  t.equal(result.head.status, 404);
  t.equal(result.head.reason, 'Not Found');
  t.same(result.head.headers, [['Content-Type', 'text/plain']]);
  t.equal(result.rest.length, 0, 'the body bytes come in later chunks');
});

t.test('a header section that never ends is bounded', async (t) => {
  const parser = new CgiHeadParser(100);
  t.throws(() => parser.push(Buffer.from(`X-Long: ${'a'.repeat(200)}`)), CgiOutputError);
  const lines = new CgiHeadParser(100);
  t.throws(() => {
    for (let index = 0; index < 20; index += 1) lines.push(Buffer.from('X-A: 1234567\n'));
  }, CgiOutputError);
  t.throws(() => new CgiHeadParser(100).end(), /printed nothing/);
});

t.test('interpretation', async (t) => {
  t.same(interpretHead(['Location: /next?x=1']), { kind: 'local-redirect', location: '/next?x=1' });
  t.same(interpretHead(['Status: 200', 'Location: /next']), { kind: 'local-redirect', location: '/next' });
  const client = interpretHead(['Location: https://example.org/']);
  t.equal(client.kind === 'document' ? client.status : 0, 302);
  const noContent = interpretHead(['Status: 204']);
  t.equal(noContent.kind === 'document' ? noContent.status : 0, 204, 'a Status alone is a response');
  t.throws(() => interpretHead(['Content-Type: text/plain', 'X-Bad: a\x01b']), CgiOutputError);
  t.throws(() => interpretHead(['Content-Type: text/plain', 'Content-Length: -1']), CgiOutputError);
  t.throws(() => interpretHead(['Status: 200', 'Status: 201', 'Content-Type: text/plain']), CgiOutputError);
  t.throws(() => interpretHead(['Bad Name: x']), CgiOutputError);
  const dropped = interpretHead(['Content-Type: text/plain', 'Transfer-Encoding: chunked', 'Connection: close', 'X-Ok: 1']);
  t.same(dropped.kind === 'document' ? dropped.headers : [], [['Content-Type', 'text/plain'], ['X-Ok', '1']], 'framing fields are the gateway\'s');
});
