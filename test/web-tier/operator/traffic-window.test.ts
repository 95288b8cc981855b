import t from 'tap';
import { createTrafficWindow } from '../../../web-tier/operator/traffic-window.js';
import { createRecentErrors } from '../../../web-tier/operator/recent-errors.js';

function clock(start: number): { now: () => number; advance: (ms: number) => void } {
  let at = start;
  return { now: () => at, advance: (ms) => { at += ms; } };
}

t.test('counts per second, rate over the seconds covered, 5xx as errors', async (t) => {
  const time = clock(1_000_000);
  const window = createTrafficWindow({ now: time.now });
  window.record(200);
  window.record(404);
  window.record(502);
  time.advance(1_000);
  window.record(200);
  const snapshot = window.snapshot();
  t.equal(snapshot.windowSeconds, 60);
  t.equal(snapshot.perSecond.length, 60);
  t.same(snapshot.perSecond.slice(-2), [3, 1], 'oldest first, current second last');
  t.same(snapshot.errorsPerSecond.slice(-2), [1, 0]);
  t.equal(snapshot.requests, 4);
  t.equal(snapshot.errors, 1, 'a 404 is the client\'s, not an error');
  t.equal(snapshot.requestsPerSecond, 2, 'four requests over the two seconds since start');
  t.equal(snapshot.errorRate, 0.25);
});

t.test('seconds older than the window fall out; a long idle gap clears everything', async (t) => {
  const time = clock(5_000_000);
  const window = createTrafficWindow({ seconds: 5, now: time.now });
  for (let second = 0; second < 5; second += 1) {
    window.record(200);
    time.advance(1_000);
  }
  let snapshot = window.snapshot();
  t.same(snapshot.perSecond, [1, 1, 1, 1, 0], 'the first second has left the window');
  t.equal(snapshot.requestsPerSecond, 0.8);
  time.advance(3_600_000);
  snapshot = window.snapshot();
  t.same(snapshot.perSecond, [0, 0, 0, 0, 0]);
  t.equal(snapshot.errorRate, 0, 'no requests, no error rate');
  window.record(500);
  t.same(window.snapshot().errorsPerSecond, [0, 0, 0, 0, 1]);
});

t.test('recent errors keep the last N 5xx with request ids, newest first', async (t) => {
  const errors = createRecentErrors(2);
  const base = { route: 'app' as const, method: 'GET', path: '/api/x', bytes: 10, seconds: 0.01, at: 0 };
  errors.record({ ...base, requestId: 'ok', status: 200 });
  errors.record({ ...base, requestId: 'a', status: 502, upstream: 'http://127.0.0.1:3000' });
  errors.record({ ...base, requestId: 'b', status: 503 });
  errors.record({ ...base, requestId: 'c', status: 504 });
  const list = errors.list();
  t.same(list.map((error) => error.requestId), ['c', 'b']);
  t.equal(list[0]?.at, '1970-01-01T00:00:00.000Z');
  t.notOk('upstream' in (list[1] ?? {}), 'no upstream field when there was none');
});
