import t from 'tap';
import { CSRF_MAX_AGE_MS, createCsrf, requestWasHttps } from '../../../app-tier/app/csrf.js';

t.test('a token verifies with its cookie and secret only', async (t) => {
  const csrf = createCsrf({ secret: 'a'.repeat(64) });
  const { value: cookie, isNew } = csrf.cookieFor(undefined);
  t.ok(isNew);
  const token = csrf.issue(cookie);
  t.equal(csrf.check(cookie, token), null);
  t.equal(csrf.check(undefined, token), 'missing-cookie');
  t.equal(csrf.check('short', token), 'missing-cookie');
  t.equal(csrf.check(cookie, undefined), 'missing-token');
  t.equal(csrf.check(cookie, 'x.y.z'), 'malformed-token');
  t.equal(csrf.check(csrf.cookieFor(undefined).value, token), 'bad-signature');
  t.equal(createCsrf({ secret: 'b'.repeat(64) }).check(cookie, token), 'bad-signature', 'another secret');
  t.same(csrf.cookieFor(cookie), { value: cookie, isNew: false });
  t.equal(csrf.cookieFor('bad value!').isNew, true);
});

t.test('tokens expire, and a token from the future beyond clock skew is refused', async (t) => {
  let now = Date.UTC(2026, 0, 1);
  const csrf = createCsrf({ secret: 's', now: () => now });
  const cookie = csrf.cookieFor(undefined).value;
  const token = csrf.issue(cookie);
  now += CSRF_MAX_AGE_MS - 1000;
  t.equal(csrf.check(cookie, token), null);
  now += 2000;
  t.equal(csrf.check(cookie, token), 'expired');
  now = Date.UTC(2026, 0, 1) - 60 * 60 * 1000;
  t.equal(csrf.check(cookie, token), 'expired');
});

t.test('the cookie is Secure when the web tier says the request was https (issue 12.6)', async (t) => {
  const csrf = createCsrf({ secret: 's' });
  t.match(csrf.setCookie('v', true), /; Secure$/);
  t.notMatch(csrf.setCookie('v', false), /Secure/);
  t.equal(requestWasHttps({ 'x-forwarded-proto': 'https' }), true);
  t.equal(requestWasHttps({ 'x-forwarded-proto': ' HTTPS ' }), true);
  t.equal(requestWasHttps({ 'x-forwarded-proto': 'http' }), false);
  t.equal(requestWasHttps({ 'x-forwarded-proto': 'https, http' }), false, 'the web tier writes one value; anything else is not its word');
  t.equal(requestWasHttps({}), false);
});
