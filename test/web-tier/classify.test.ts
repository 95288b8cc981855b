import t from 'tap';
import { classify, type Decision } from '../../web-tier/classify.js';

// The gateway on (WEB_CGI=on): these tests tell every kind apart; the off case has its own test.
const options = { dynamicPrefixes: ['/api/', '/articles/'], cgi: true };
const kind = (target: string, method = 'GET'): string => classify(method, target, options).kind;
const rejected = (decision: Decision): boolean => decision.kind === 'reject';

t.test('health, static, app and cgi are told apart', async (t) => {
  t.equal(kind('/healthz'), 'health');
  t.equal(kind('/readyz?x=1'), 'health');
  t.equal(kind('/'), 'static');
  t.equal(kind('/index.html'), 'static');
  t.equal(kind('/css/site.css'), 'static');
  t.equal(kind('/api/echo'), 'app');
  t.equal(kind('/api/echo?a=%20b'), 'app');
  t.equal(kind('/articles/2003/05/my-slug/'), 'app');
  t.equal(kind('/articles'), 'app', 'the bare prefix goes to the app, whose APPEND_SLASH redirects it');
  t.equal(kind('/apix'), 'static', 'a prefix matches whole segments only');
  t.equal(kind('/cgi-bin/hello.sh'), 'cgi');
  t.equal(kind('/cgi-bin/app/api/echo'), 'cgi');
  t.equal(kind('/API/echo'), 'static', 'prefixes are case-sensitive, like paths');
  t.equal(kind('/-/metrics'), 'operator');
  t.equal(kind('/-/status.json?x=1'), 'operator');
  t.equal(kind('/%2D/metrics'), 'operator', 'an encoded "-" cannot slip past to the static files');
  t.equal(kind('/-'), 'static', 'only the /-/ prefix');
});

t.test('with the CGI gateway off (the default) /cgi-bin/ is an ordinary static path (issue 12)', async (t) => {
  for (const off of [{ dynamicPrefixes: ['/api/'] }, { dynamicPrefixes: ['/api/'], cgi: false }]) {
    t.match(classify('GET', '/cgi-bin/app/api/articles/', off), { kind: 'static', pathname: '/cgi-bin/app/api/articles/' });
    t.equal(classify('POST', '/cgi-bin/hello.sh', off).kind, 'static');
    t.equal(classify('GET', '/%63gi-bin/app/api/echo', off).kind, 'static', 'an encoded name is no way round it');
    t.equal(classify('GET', '/cgi-bin', off).kind, 'static');
  }
  t.equal(classify('GET', '/cgi-bin/app/api/echo', { dynamicPrefixes: ['/cgi-bin/'] }).kind, 'app', 'an operator\'s own dynamic prefix still wins');
});

t.test('the query is split off and the path is kept encoded', async (t) => {
  const decision = classify('GET', '/api/echo/a%2Fb?x=%41&y', options);
  t.match(decision, { kind: 'app', pathname: '/api/echo/a%2Fb', search: '?x=%41&y', target: '/api/echo/a%2Fb?x=%41&y' });
});

t.test('encoded unreserved characters are normalised before deciding (RFC 3986 §6.2.2.2)', async (t) => {
  t.match(classify('GET', '/%61pi/echo', options), { kind: 'app', pathname: '/api/echo', target: '/%61pi/echo' });
  t.match(classify('GET', '/%63gi-bin/hello.sh', options), { kind: 'cgi', pathname: '/cgi-bin/hello.sh' });
  t.match(classify('GET', '/%68ealthz', options), { kind: 'health' });
  t.match(classify('GET', '/a%2fb%C3%A9', options), { kind: 'static', pathname: '/a%2fb%C3%A9' }, 'other escapes stay exactly as sent');
});

t.test('dot-segments, backslashes, NUL and bad encodings never reach a decision', async (t) => {
  for (const target of [
    '/api/../secret', '/api/./echo', '/api/%2e%2e/secret', '/api/%2E%2E/secret', '/api/.%2e/x', '/api/..%2fsecret',
    '/static/..%2Fapi/echo', '/..', '/a/..', '/a\\b', '/api/%5c..%5csecret', '/a%5Cb', '/a%00b', '/a%zz', '/a%',
    '/a%c0%ae%c0%ae/x', '/%ff', '/api/echo#frag',
  ]) {
    const decision = classify('GET', target, options);
    t.ok(rejected(decision), `${target} is rejected`);
    t.match(decision, { kind: 'reject', code: 'WEB_ERR_BAD_REQUEST' });
  }
  t.equal(kind('/a..b/c.d'), 'static', 'dots inside a name are fine');
  t.equal(kind('/%252e%252e/x'), 'static', 'a double-encoded dot is a literal name for the handlers to judge');
  t.equal(kind('/caf%C3%A9'), 'static', 'valid UTF-8 passes');
});

t.test('absolute-form is reduced to origin-form and keeps its authority (RFC 9112 §3.2.2)', async (t) => {
  t.match(classify('GET', 'http://evil.example/api/echo?x=1', options), { kind: 'app', pathname: '/api/echo', search: '?x=1', target: '/api/echo?x=1', authority: 'evil.example' });
  t.match(classify('GET', 'HTTP://Example.com:8080', options), { kind: 'static', target: '/', authority: 'Example.com:8080' });
  t.match(classify('GET', 'http://a.example?q', options), { kind: 'static', target: '/?q' });
  t.ok(rejected(classify('GET', 'ftp://a.example/x', options)), 'only http(s)');
  t.ok(rejected(classify('GET', 'http://user@a.example/x', options)), 'no userinfo');
  t.ok(rejected(classify('GET', 'http:///x', options)), 'no empty authority');
  t.ok(rejected(classify('GET', 'http://a.example/api/../x', options)), 'its path is checked too');
  t.ok(rejected(classify('GET', 'example.com:443', options)), 'authority-form is not for GET');
});

t.test('asterisk-form only for OPTIONS', async (t) => {
  t.equal(kind('*', 'OPTIONS'), 'asterisk');
  t.equal(kind('*', 'GET'), 'reject');
});

t.test('prefixes come from options', async (t) => {
  t.equal(classify('GET', '/shop/cart', { dynamicPrefixes: ['/shop/'] }).kind, 'app');
  t.equal(classify('GET', '/api/echo', { dynamicPrefixes: [] }).kind, 'static');
});
