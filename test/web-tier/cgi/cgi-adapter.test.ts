import t from 'tap';
import { PassThrough, Writable } from 'node:stream';
import type { AppRequest, AppResponse, Application } from '../../../common/app-interface.js';
import { encodePathInfo, runCgi, targetFromEnv } from '../../../app-tier/cgi-adapter.js';
import { CgiHeadParser, type CgiDocument } from '../../../web-tier/cgi/output-parser.js';

/** An Application that records what it was given and answers with `response`. */
function stubApp(response: AppResponse | Error): Application & { seen: AppRequest[] } {
  const seen: AppRequest[] = [];
  return {
    seen,
    async handle(request) {
      seen.push(request);
      if (response instanceof Error) throw response;
      return response;
    },
    async close() {},
  };
}

class Collector extends Writable {
  readonly chunks: Buffer[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.chunks.push(chunk);
    callback();
  }
  get text(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** The adapter's output read back with the gateway's own parser: the two halves must agree. */
function parseOutput(output: Buffer): { head: CgiDocument; body: string } {
  const progress = new CgiHeadParser(65536).push(output);
  if (progress === undefined || progress.head.kind !== 'document') throw new Error('not a document response');
  return { head: progress.head, body: progress.rest.toString('utf8') };
}

const BASE_ENV = {
  GATEWAY_INTERFACE: 'CGI/1.1',
  REQUEST_METHOD: 'POST',
  SCRIPT_NAME: '/cgi-bin/app',
  PATH_INFO: '/api/echo/a b',
  QUERY_STRING: 'x=1&y=%20',
  SERVER_NAME: 'example.test',
  SERVER_ADDR: '127.0.0.1',
  SERVER_PORT: '8080',
  SERVER_PROTOCOL: 'HTTP/1.1',
  REMOTE_ADDR: '10.0.0.9',
  REMOTE_PORT: '40000',
  CONTENT_LENGTH: '5',
  CONTENT_TYPE: 'text/plain',
  HTTP_HOST: 'example.test:8080',
  HTTP_ACCEPT_LANGUAGE: 'en',
  HTTP_X_REQUEST_ID: 'req-123',
};

t.test('meta-variables and stdin become the AppRequest', async (t) => {
  const app = stubApp({ status: 200, headers: { 'Content-Type': 'text/plain' }, body: 'ok' });
  const stdin = new PassThrough();
  // More bytes than CONTENT_LENGTH: the script reads exactly CONTENT_LENGTH (RFC 3875 §4.2).
  stdin.end('helloEXTRA');
  await runCgi(app, BASE_ENV, stdin, new Collector());
  const request = app.seen[0];
  t.ok(request);
  if (request === undefined) return;
  t.equal(request.method, 'POST');
  t.equal(request.target, '/api/echo/a%20b?x=1&y=%20', 'SCRIPT_NAME stripped, PATH_INFO re-encoded, query kept raw');
  t.equal(request.httpVersion, '1.1');
  t.same(request.headers, { host: 'example.test:8080', 'accept-language': 'en', 'x-request-id': 'req-123', 'content-type': 'text/plain', 'content-length': '5' });
  t.equal(Buffer.from(request.body).toString(), 'hello');
  t.equal(request.remoteAddress, '10.0.0.9');
  t.equal(request.remotePort, 40000);
  t.equal(request.localAddress, '127.0.0.1');
  t.equal(request.localPort, 8080);
  t.equal(request.requestId, 'req-123');
});

t.test('the target', async (t) => {
  t.equal(targetFromEnv({ SCRIPT_NAME: '/cgi-bin/app', PATH_INFO: '/api/echo', QUERY_STRING: 'x=1' }), '/api/echo?x=1');
  t.equal(targetFromEnv({ SCRIPT_NAME: '/cgi-bin/app', PATH_INFO: '', QUERY_STRING: '' }), '/', 'no path info is the root');
  t.equal(targetFromEnv({ SCRIPT_NAME: '/cgi-bin/app', PATH_INFO: '/a', REQUEST_URI: '/cgi-bin/app/%61?q=%7e' }), '/%61?q=%7e', 'REQUEST_URI keeps the exact bytes');
  t.equal(targetFromEnv({ SCRIPT_NAME: '/cgi-bin/app', REQUEST_URI: '/cgi-bin/app?q' }), '/?q');
  t.equal(targetFromEnv({ SCRIPT_NAME: '/cgi-bin/app', PATH_INFO: '/x', QUERY_STRING: '', REQUEST_URI: '/cgi-bin/application/x' }), '/x', 'a REQUEST_URI that is not under SCRIPT_NAME is ignored');
  t.equal(encodePathInfo('/café/a?b#c%d/é'), '/caf%C3%A9/a%3Fb%23c%25d/%C3%A9');
  t.equal(encodePathInfo("/keep:@!$&'()*+,;=-._~"), "/keep:@!$&'()*+,;=-._~");
});

t.test('no CONTENT_LENGTH: stdin is not read', async (t) => {
  const app = stubApp({ status: 204, headers: {}, body: null });
  const stdin = new PassThrough();
  // Never ended: reading it would hang the test.
  const out = new Collector();
  await runCgi(app, { ...BASE_ENV, REQUEST_METHOD: 'GET', CONTENT_LENGTH: undefined }, stdin, out);
  t.equal(app.seen[0]?.body.length, 0);
  t.equal(out.text.toString(), 'Status: 204 No Content\r\n\r\n');
});

t.test('the AppResponse is written as CGI output the gateway parses', async (t) => {
  const app = stubApp({ status: 201, headers: { 'Content-Type': 'application/json', Location: '/api/articles/3/', 'Set-Cookie': ['a=1', 'b=2'], Connection: 'close', 'X-Bad': 'split\r\nInjected: yes' }, body: '{"id":3}' });
  const out = new Collector();
  await runCgi(app, BASE_ENV, new PassThrough().end('hello'), out);
  const { head, body } = parseOutput(out.text);
  t.equal(head.status, 201);
  t.equal(head.reason, 'Created');
  t.same(head.headers, [['Content-Type', 'application/json'], ['Location', '/api/articles/3/'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2'], ['Content-Length', '8']]);
  t.equal(body, '{"id":3}');
});

t.test('a streamed body is written chunk by chunk', async (t) => {
  async function* chunks(): AsyncIterable<Uint8Array> {
    yield Buffer.from('one,');
    yield Buffer.from('two');
  }
  const app = stubApp({ status: 200, headers: { 'Content-Type': 'text/plain' }, body: chunks() });
  const out = new Collector();
  await runCgi(app, BASE_ENV, new PassThrough().end('hello'), out);
  const { head, body } = parseOutput(out.text);
  t.equal(head.contentLength, undefined, 'unknown length: no Content-Length');
  t.equal(body, 'one,two');
});

t.test('an application that throws still produces a parseable 500', async (t) => {
  const app = stubApp(new Error('boom'));
  const out = new Collector();
  await t.rejects(runCgi(app, BASE_ENV, new PassThrough().end('hello'), out), /boom/);
  const { head } = parseOutput(out.text);
  t.equal(head.status, 500);
});
