import t from 'tap';
import { parsePublished, validateArticle } from '../../../app-tier/app/validation.js';
import { slugify } from '../../../app-tier/app/slug.js';

t.test('published dates: ISO 8601 with an offset, or a bare date; normalised to UTC', async (t) => {
  t.equal(parsePublished('2003-05-17'), '2003-05-17T00:00:00.000Z');
  t.equal(parsePublished('2003-05-17T10:00Z'), '2003-05-17T10:00:00.000Z');
  t.equal(parsePublished('2003-05-17T10:00:00.5+02:00'), '2003-05-17T08:00:00.500Z');
  t.equal(parsePublished('2004-02-29'), '2004-02-29T00:00:00.000Z');
  for (const bad of ['2003-02-29', '2003-13-01', '2003-05-17T25:00:00Z', '2003-05-17T10:00:00', '17/05/2003', '0000-01-01', '']) {
    t.equal(parsePublished(bad), null, bad);
  }
});

t.test('full input derives slug and published; partial derives nothing', async (t) => {
  const full = validateArticle({ title: '  Hello  ', body: '' }, 'full');
  t.ok(full.ok);
  if (full.ok) {
    t.equal(full.value.title, 'Hello');
    t.equal(full.value.slug, 'hello');
    t.ok(full.value.published !== undefined && Math.abs(Date.parse(full.value.published) - Date.now()) < 60_000);
  }
  t.same(validateArticle({ body: 'x' }, 'partial'), { ok: true, value: { body: 'x' } });
  const many = validateArticle({ title: 1, body: 2, slug: '!' }, 'full');
  t.notOk(many.ok);
  if (!many.ok) t.same(many.errors.map((error) => error.field), ['title', 'slug', 'body'], 'every error, in field order');
  const emptied = validateArticle({ slug: '', published: null }, 'partial');
  if (!emptied.ok) t.same(emptied.errors.map((error) => error.field), ['slug', 'published']);
});

t.test('slugify folds accents and punctuation like Django', async (t) => {
  t.equal(slugify('Héllo, Wörld!  2003'), 'hello-world-2003');
  t.equal(slugify('--a__b--'), 'a-b');
  t.equal(slugify('x'.repeat(150)).length, 100);
  t.match(slugify('!!!'), /^article-[0-9a-f]{8}$/);
});
