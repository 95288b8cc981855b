/**
 * The start-up half of the proxy-loop guard (proxy/self-upstream.ts): an upstream that names the
 * web tier's own listener fails loadConfig (so start-up, exit 1, and a reload) with one line
 * naming the variable and the value; another box on the same port, an ephemeral WEB_PORT=0 and
 * the modes that proxy nothing are left alone.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigError } from '../../../common/config.js';
import { loadConfig } from '../../../web-tier/config.js';

/** The error loadConfig throws for `env`, as key and message; a test fails if it does not throw. */
function refusal(t: Test, env: Record<string, string>, file?: string): ConfigError {
  const error = t.throws(() => loadConfig(file, env), { code: 'CONFIG_INVALID' }) as ConfigError;
  t.notMatch(error.message, /\n/, 'one line');
  return error;
}

t.test('APP_UPSTREAMS naming the listener itself: loopback, unspecified, WEB_HOST, WEB_TLS_PORT', async (t) => {
  const loops: [Record<string, string>, string][] = [
    [{ WEB_PORT: '8080', APP_UPSTREAMS: 'http://127.0.0.1:8080' }, 'WEB_PORT 8080'],
    [{ WEB_PORT: '8080', APP_UPSTREAMS: 'http://127.0.0.1:3000,http://localhost:8080' }, 'WEB_PORT 8080'],
    [{ WEB_PORT: '8080', APP_UPSTREAMS: 'http://0.0.0.0:8080' }, 'WEB_PORT 8080'],
    [{ WEB_PORT: '8080', APP_UPSTREAMS: 'http://2130706433:8080' }, 'WEB_PORT 8080'],
    [{ WEB_PORT: '8080', APP_UPSTREAMS: 'http://[::ffff:127.0.0.1]:8080' }, 'WEB_PORT 8080'],
    [{ WEB_HOST: '0.0.0.0', WEB_PORT: '8080', APP_UPSTREAMS: 'http://127.0.0.2:8080' }, 'WEB_PORT 8080'],
    [{ WEB_HOST: '::', WEB_PORT: '8080', APP_UPSTREAMS: 'http://[::1]:8080' }, 'WEB_PORT 8080'],
    [{ WEB_HOST: '10.0.0.5', WEB_PORT: '8080', APP_UPSTREAMS: 'http://10.0.0.5:8080' }, 'WEB_PORT 8080'],
    [{ WEB_HOST: 'localhost', WEB_PORT: '8080', APP_UPSTREAMS: 'http://[::1]:8080' }, 'WEB_PORT 8080'],
    [{ WEB_PORT: '80', APP_UPSTREAMS: 'http://localhost' }, 'WEB_PORT 80'],
    [{ WEB_PORT: '0', WEB_TLS: 'internal', WEB_TLS_PORT: '8443', APP_UPSTREAMS: 'https://127.0.0.1:8443' }, 'WEB_TLS_PORT 8443'],
  ];
  for (const [env, port] of loops) {
    const error = refusal(t, env);
    t.equal(error.key, 'APP_UPSTREAMS', JSON.stringify(env));
    t.match(error.message, /^APP_UPSTREAMS \(proxy\.upstreams\[\d\]\): must not be this web tier's own listener/);
    t.match(error.message, port);
    t.match(error.message, `got ${JSON.stringify(env['APP_UPSTREAMS']?.split(',').at(-1))}`, 'the value named');
  }
});

t.test('a WEB_ROUTES group naming the listener: the route named', async (t) => {
  const error = refusal(t, { WEB_PORT: '8080', APP_UPSTREAMS: 'http://127.0.0.1:3000', WEB_ROUTES: '/shop/=http://127.0.0.1:3001;/blog/=http://127.0.0.1:3002,http://127.0.0.1:8080' });
  t.equal(error.key, 'WEB_ROUTES');
  t.match(error.message, /^WEB_ROUTES \(routes\[1\]\.upstreams\[1\]\): route "\/blog\/" must not be this web tier's own listener \(WEB_HOST 127\.0\.0\.1, WEB_PORT 8080\).*got "http:\/\/127\.0\.0\.1:8080"$/);
});

t.test('a config file\'s upstreams are named by their key', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-self-upstream-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'web.json');
  writeFileSync(file, JSON.stringify({ server: { port: 8080 }, proxy: { upstreams: ['http://127.0.0.1:8080'] } }));
  t.equal(refusal(t, {}, file).key, 'proxy.upstreams');
  t.equal(refusal(t, { APP_UPSTREAMS: 'http://localhost:8080' }, file).key, 'APP_UPSTREAMS', 'the variable, when it is what set them');
});

t.test('not a loop: another box on the same port, another port, port 0, embedded and CGI modes', async (t) => {
  const fine: Record<string, string>[] = [
    { WEB_PORT: '8080', APP_UPSTREAMS: 'http://10.0.0.7:8080' },
    { WEB_PORT: '8080', APP_UPSTREAMS: 'http://app.internal:8080' },
    { WEB_HOST: '0.0.0.0', WEB_PORT: '8080', APP_UPSTREAMS: 'http://10.0.0.7:8080' },
    { WEB_HOST: '10.0.0.5', WEB_PORT: '8080', APP_UPSTREAMS: 'http://127.0.0.1:8080' },
    { WEB_PORT: '8080', APP_UPSTREAMS: 'http://127.0.0.2:8080' },
    { WEB_PORT: '8080', APP_UPSTREAMS: 'http://127.0.0.1:3000' },
    { WEB_PORT: '0', APP_UPSTREAMS: 'http://127.0.0.1:8080' },
    { WEB_PORT: '8080', APP_UPSTREAMS: 'http://127.0.0.1:8443' },
    { WEB_PORT: '3000', WEB_DYNAMIC: 'embedded' },
    { WEB_PORT: '3000', WEB_DYNAMIC: 'cgi' },
  ];
  for (const env of fine) t.doesNotThrow(() => loadConfig(undefined, env), JSON.stringify(env));
});
