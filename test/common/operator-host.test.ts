/** The operator Host rule both tiers share (issue 12 item 5), and its config keys. */
import t from 'tap';
import { createOperatorHostCheck, isOperatorHost, OPERATOR_HOST_ENTRY } from '../../common/operator-host.js';
import { loadConfig as loadAppConfig } from '../../app-tier/config.js';
import { loadConfig as loadWebConfig } from '../../web-tier/config.js';

t.test('loopback names, IP literals and configured names pass; every other name fails', async (t) => {
  const check = createOperatorHostCheck(['ops.example.net', 'Status.Example.', '[fd00::7]']);
  const pass = [
    'localhost', 'localhost:8080', 'LOCALHOST:1', 'localhost.', 'a.localhost', 'a-b.c.localhost:9',
    '127.0.0.1', '127.0.0.1:8080', '127.255.0.9', '10.0.0.5', '198.18.0.11:3000', '[::1]', '[::1]:8080', '[2001:db8::1]:443', '[::ffff:127.0.0.1]',
    'ops.example.net', 'OPS.EXAMPLE.NET:8080', 'ops.example.net.', 'status.example', '[fd00::7]:1',
  ];
  for (const host of pass) t.ok(check(host), host);
  const fail = [
    undefined, '', ':8080', 'attacker.example', 'attacker.example:8080', 'localhost.attacker.example', 'notlocalhost', '-.localhost', '.localhost',
    '127.0.0.1.nip.io', '0x7f000001', '2130706433', '127.1', '::1', '[localhost]', '[::1', 'ops.example.net.attacker.example', 'sub.ops.example.net',
    'localhost:8080:1', 'localhost:123456', 'local host',
  ];
  for (const host of fail) t.notOk(check(host), String(host));
  t.notOk(isOperatorHost('ops.example.net'), 'nothing is configured by default');
  t.ok(isOperatorHost('localhost'));
});

t.test('entries are host names or IP literals without port', async (t) => {
  for (const good of ['ops.example.net', 'app1', 'app-1.internal.', '[::1]', '10.0.0.1']) t.match(good, OPERATOR_HOST_ENTRY, good);
  for (const bad of ['ops.example.net:8080', '*.example.net', 'http://ops', '', '-x.example', 'a b']) t.notMatch(bad, OPERATOR_HOST_ENTRY, bad);
});

t.test('WEB_OPERATOR_HOSTS and APP_OPERATOR_HOSTS: lists of names, empty by default, a bad entry named', async (t) => {
  t.same(loadWebConfig(undefined, {}).operator.hosts, []);
  t.same(loadAppConfig(undefined, {}).operatorHosts, []);
  t.same(loadWebConfig(undefined, { WEB_OPERATOR_HOSTS: 'ops.example.net, status.example' }).operator.hosts, ['ops.example.net', 'status.example']);
  t.same(loadAppConfig(undefined, { APP_OPERATOR_HOSTS: 'app1.internal' }).operatorHosts, ['app1.internal']);
  t.throws(() => loadWebConfig(undefined, { WEB_OPERATOR_HOSTS: 'ops.example.net:8080' }), { message: /WEB_OPERATOR_HOSTS.*host name without port/ });
  t.throws(() => loadAppConfig(undefined, { APP_OPERATOR_HOSTS: '*.internal' }), { message: /APP_OPERATOR_HOSTS.*host name without port/ });
});
