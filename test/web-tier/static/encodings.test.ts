import t from 'tap';
import { negotiateEncoding } from '../../../web-tier/static/encodings.js';

t.test('negotiates among the twins that exist', async (t) => {
  t.equal(negotiateEncoding(undefined, ['br', 'gzip']), 'identity', 'no header: identity');
  t.equal(negotiateEncoding('gzip, br', ['br', 'gzip']), 'br', 'server preference on a tie');
  t.equal(negotiateEncoding('gzip', ['br', 'gzip']), 'gzip');
  t.equal(negotiateEncoding('br;q=0.1, gzip;q=0.9', ['br', 'gzip']), 'gzip', 'client q-values first');
  t.equal(negotiateEncoding('br', ['gzip']), 'identity', 'the twin must exist');
  t.equal(negotiateEncoding('*', ['gzip']), 'gzip');
  t.equal(negotiateEncoding('gzip;q=0, identity', ['gzip']), 'identity');
  t.equal(negotiateEncoding('identity;q=0', []), 'identity', 'nothing acceptable: identity anyway');
  t.equal(negotiateEncoding('', ['br']), 'identity', 'empty header means no coding');
});
