import t from 'tap';
import { harness } from './fixture.js';

t.test('an exception in a view → 500 with the request id and no stack; the full error is logged once', async (t) => {
  const h = harness(t, { faultRoutes: true });
  const res = await h.send('/api/_fault/throw', { requestId: 'req-boom' });
  t.equal(res.status, 500);
  t.same(res.json(), {
    error: { status: 500, code: 'APP_ERR_INTERNAL', message: 'something went wrong; the log has the details under this request id', requestId: 'req-boom' },
  });
  t.notMatch(res.text, /deliberate|at .*\.ts/, 'neither the message nor a stack reaches the client');
  const errors = h.logs.filter((line) => line['level'] === 50);
  t.equal(errors.length, 1);
  t.equal(errors[0]?.['reqId'], 'req-boom');
  t.match(errors[0], { err: { message: /deliberate fault/, stack: /Error/ } });
  const after = await h.send('/api/echo');
  t.equal(after.status, 200, 'the app keeps serving');
  t.equal(h.logs.length, 1, 'nothing else is logged per request');
});

t.test('the fault route does not exist unless asked for', async (t) => {
  const h = harness(t);
  t.equal((await h.send('/api/_fault/throw')).status, 404);
});

t.test('an unexpected store failure is a 500 page outside /api/', async (t) => {
  const h = harness(t);
  h.store.failWith = new Error('disk on fire');
  const res = await h.send('/articles/', { requestId: 'req-page' });
  t.equal(res.status, 500);
  t.match(res.header('content-type'), /^text\/html/);
  t.match(res.text, /req-page/);
  t.notMatch(res.text, /disk on fire/);
});

t.test('the CSRF secret is read again when the store failed the first time', async (t) => {
  const h = harness(t);
  h.store.failWith = new Error('not yet');
  t.equal((await h.send('/articles/new/')).status, 500);
  h.store.failWith = undefined;
  t.equal((await h.send('/articles/new/')).status, 200);
});

t.test('close() closes the store once', async (t) => {
  const { createApp } = await import('../../../app-tier/app/create-app.js');
  const { createLogger } = await import('../../../common/logger.js');
  const { createMemoryStore } = await import('../../helpers/memory-store.js');
  const store = createMemoryStore();
  const app = createApp({ store, logger: createLogger({ tier: 'app', level: 'silent' }) });
  await Promise.all([app.close(), app.close()]);
  await app.close();
  t.ok(store.closed);
  t.equal(store.closeCalls, 1);
});

t.test('absolute-form targets route like origin-form; other targets are 400', async (t) => {
  const h = harness(t);
  t.equal((await h.send('http://app.test/api/echo?x=1')).json().url, 'http://app.test/api/echo?x=1');
  const star = await h.send('*', { method: 'OPTIONS' });
  t.equal(star.status, 400);
});
