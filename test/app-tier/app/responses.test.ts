import t from 'tap';
import { finalise, json, noContent } from '../../../app-tier/app/responses.js';

t.test('finalise sets Content-Length from the body, in bytes', async (t) => {
  const response = finalise('GET', json(200, { word: 'héllo' }));
  t.equal(response.headers['Content-Length'], String(Buffer.byteLength(response.body as string)));
  t.equal(finalise('GET', { status: 200, headers: {}, body: Uint8Array.from([1, 2, 3]) }).headers['Content-Length'], '3');
  t.equal(finalise('GET', { status: 200, headers: { 'content-length': '9' }, body: 'abc' }).headers['content-length'], '9', 'an explicit length is kept');
});

t.test('HEAD keeps the headers and drops the body', async (t) => {
  const get = finalise('GET', json(200, { a: 1 }));
  const head = finalise('HEAD', json(200, { a: 1 }));
  t.same(head.headers, get.headers);
  t.equal(head.body, null);
});

t.test('204 and 304 carry no body and no Content-Length (RFC 9110 §8.6, §15.4.5)', async (t) => {
  const noBody = finalise('DELETE', { status: 204, headers: { 'Content-Length': '0', Allow: 'GET' }, body: 'x' });
  t.same(noBody, { status: 204, headers: { Allow: 'GET' }, body: null });
  t.equal(finalise('GET', { status: 304, headers: { ETag: '"a"' }, body: 'x' }).body, null);
  t.same(finalise('OPTIONS', noContent({ Allow: 'GET' })).headers, { Allow: 'GET' });
});
