import t from 'tap';
import { parsePublished, validateArticle } from '../../../app-tier/app/validation.js';

t.test('published dates: ISO 8601 with an offset, or a bare date; normalised to UTC', async (t) => {
  t.equal(parsePublished('2003-05-17'), '2003-05-17T00:00:00.000Z');
  t.equal(parsePublished('2003-05-17T10:00Z'), '2003-05-17T10:00:00.000Z');
  t.equal(parsePublished('2003-05-17T10:00:00.5+02:00'), '2003-05-17T08:00:00.500Z');
  t.equal(parsePublished('2004-02-29'), '2004-02-29T00:00:00.000Z');
  for (const bad of ['2003-02-29', '2003-13-01', '2003-05-17T25:00:00Z', '2003-05-17T10:00:00', '17/05/2003', '0000-01-01', '']) {
    t.equal(parsePublished(bad), null, bad);
  }
});

t.test('full input: title trimmed, an absent slug and date left to the store; partial keeps only what was sent', async (t) => {
  t.same(validateArticle({ title: '  Hello  ', body: '' }, 'full'), { ok: true, value: { title: 'Hello', body: '' } });
  t.same(validateArticle({ title: 'Hello', body: '', slug: null, published: '' }, 'full'), { ok: true, value: { title: 'Hello', body: '' } });
  t.same(validateArticle({ title: 'Hello', body: 'b', slug: 'hi', published: '2003-05-17' }, 'full'), {
    ok: true,
    value: { title: 'Hello', body: 'b', slug: 'hi', published: '2003-05-17T00:00:00.000Z' },
  });
  t.notOk(validateArticle({ title: 'Hello', body: '', slug: 'x'.repeat(81) }, 'full').ok, 'slugs are at most 80 characters');
  t.same(validateArticle({ body: 'x' }, 'partial'), { ok: true, value: { body: 'x' } });
  const many = validateArticle({ title: 1, body: 2, slug: '!' }, 'full');
  t.notOk(many.ok);
  if (!many.ok) t.same(many.errors.map((error) => error.field), ['title', 'slug', 'body'], 'every error, in field order');
  const emptied = validateArticle({ slug: '', published: null }, 'partial');
  if (!emptied.ok) t.same(emptied.errors.map((error) => error.field), ['slug', 'published']);
});
