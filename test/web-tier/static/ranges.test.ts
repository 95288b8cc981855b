import t from 'tap';
import { decideRange, MAX_RANGES } from '../../../web-tier/static/ranges.js';

t.test('single, suffix, open-ended, clamped', async (t) => {
  t.same(decideRange(100, undefined), { kind: 'full' });
  t.same(decideRange(100, 'bytes=0-9'), { kind: 'partial', start: 0, end: 9 });
  t.same(decideRange(100, 'bytes=-10'), { kind: 'partial', start: 90, end: 99 });
  t.same(decideRange(100, 'bytes=90-'), { kind: 'partial', start: 90, end: 99 });
  t.same(decideRange(100, 'bytes=50-1000'), { kind: 'partial', start: 50, end: 99 });
  t.same(decideRange(100, 'bytes=-1000'), { kind: 'partial', start: 0, end: 99 }, 'suffix longer than the file');
  t.same(decideRange(100, 'Bytes=0-0'), { kind: 'partial', start: 0, end: 0 });
});

t.test('unsatisfiable, malformed, unknown unit', async (t) => {
  t.same(decideRange(100, 'bytes=100-'), { kind: 'unsatisfiable' });
  t.same(decideRange(100, 'bytes=200-300'), { kind: 'unsatisfiable' });
  t.same(decideRange(100, 'bytes=-0'), { kind: 'unsatisfiable' });
  t.same(decideRange(100, 'bytes=-0,-1000'), { kind: 'partial', start: 0, end: 99 }, 'one satisfiable range is enough');
  t.same(decideRange(100, 'bytes=5-1'), { kind: 'unsatisfiable' });
  t.same(decideRange(100, 'bytes=x-y'), { kind: 'full' });
  t.same(decideRange(100, 'bytes'), { kind: 'full' });
  t.same(decideRange(100, 'items=0-1'), { kind: 'full' });
  t.same(decideRange(0, 'bytes=0-'), { kind: 'full' }, 'an empty file is sent whole');
});

t.test('many or overlapping ranges never amplify', async (t) => {
  t.same(decideRange(100, 'bytes=0-10,5-20,21-30'), { kind: 'partial', start: 0, end: 30 }, 'coalesced');
  t.same(decideRange(100, 'bytes=0-0,-1'), { kind: 'full' }, 'disjoint: whole file');
  t.same(decideRange(100, `bytes=${Array.from({ length: MAX_RANGES + 1 }, (_, i) => `${i}-${i}`).join(',')}`), { kind: 'full' }, 'too many: whole file unparsed');
  t.same(decideRange(100, `bytes=${Array.from({ length: 10 }, () => '0-99').join(',')}`), { kind: 'partial', start: 0, end: 99 });
});
