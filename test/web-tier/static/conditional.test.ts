import t from 'tap';
import { evaluatePreconditions, ifRangeAllows, parseEntityTags, parseHttpDate } from '../../../web-tier/static/conditional.js';

const MODIFIED = Date.UTC(2024, 0, 2, 3, 4, 5);
const validators = { etag: '"abc"', lastModifiedMs: MODIFIED };
const at = (offsetSeconds: number) => new Date(MODIFIED + offsetSeconds * 1000).toUTCString();

t.test('entity-tag lists and HTTP dates', async (t) => {
  t.same(parseEntityTags('"a", W/"b" ,"c,d"'), [{ weak: false, opaque: 'a' }, { weak: true, opaque: 'b' }, { weak: false, opaque: 'c,d' }]);
  t.same(parseEntityTags('garbage'), []);
  t.equal(parseHttpDate(at(0)), MODIFIED);
  t.equal(parseHttpDate('not a date'), undefined);
  t.equal(parseHttpDate(`${at(0)}, ${at(10)}`), undefined, 'a list is not a date');
  t.equal(parseHttpDate(undefined), undefined);
});

t.test('If-None-Match: weak comparison, *, lists → not-modified', async (t) => {
  t.equal(evaluatePreconditions({ 'if-none-match': '"abc"' }, validators), 'not-modified');
  t.equal(evaluatePreconditions({ 'if-none-match': 'W/"abc"' }, validators), 'not-modified');
  t.equal(evaluatePreconditions({ 'if-none-match': '"x", "abc"' }, validators), 'not-modified');
  t.equal(evaluatePreconditions({ 'if-none-match': '*' }, validators), 'not-modified');
  t.equal(evaluatePreconditions({ 'if-none-match': '"x"' }, validators), 'proceed');
});

t.test('If-Modified-Since, ignored beside If-None-Match', async (t) => {
  t.equal(evaluatePreconditions({ 'if-modified-since': at(0) }, validators), 'not-modified');
  t.equal(evaluatePreconditions({ 'if-modified-since': at(60) }, validators), 'not-modified');
  t.equal(evaluatePreconditions({ 'if-modified-since': at(-1) }, validators), 'proceed');
  t.equal(evaluatePreconditions({ 'if-modified-since': 'yesterday' }, validators), 'proceed');
  t.equal(evaluatePreconditions({ 'if-none-match': '"x"', 'if-modified-since': at(60) }, validators), 'proceed');
});

t.test('If-Match (strong) and If-Unmodified-Since → failed', async (t) => {
  t.equal(evaluatePreconditions({ 'if-match': '"x"' }, validators), 'failed');
  t.equal(evaluatePreconditions({ 'if-match': 'W/"abc"' }, validators), 'failed', 'weak tags never match strongly');
  t.equal(evaluatePreconditions({ 'if-match': '"abc"' }, validators), 'proceed');
  t.equal(evaluatePreconditions({ 'if-match': '*' }, validators), 'proceed');
  t.equal(evaluatePreconditions({ 'if-unmodified-since': at(-1) }, validators), 'failed');
  t.equal(evaluatePreconditions({ 'if-unmodified-since': at(0) }, validators), 'proceed');
  t.equal(evaluatePreconditions({ 'if-match': '"abc"', 'if-unmodified-since': at(-1) }, validators), 'proceed', 'If-Unmodified-Since ignored beside If-Match');
  t.equal(evaluatePreconditions({ 'if-match': '"x"', 'if-none-match': '"abc"' }, validators), 'failed', 'If-Match is evaluated first');
});

t.test('If-Range', async (t) => {
  t.equal(ifRangeAllows({}, validators), true);
  t.equal(ifRangeAllows({ 'if-range': '"abc"' }, validators), true);
  t.equal(ifRangeAllows({ 'if-range': 'W/"abc"' }, validators), false, 'weak never matches');
  t.equal(ifRangeAllows({ 'if-range': '"old"' }, validators), false);
  t.equal(ifRangeAllows({ 'if-range': at(0) }, validators), true, 'an exact date');
  t.equal(ifRangeAllows({ 'if-range': at(1) }, validators), false, 'a later date is not the same version');
  t.equal(ifRangeAllows({ 'if-range': 'junk' }, validators), false);
});
