/**
 * The https rows (issue 15's performance section): nginx gets the web tier's TLS settings and a
 * session cache, `--compare https` selects rows that exist, and the ratios pair them.
 */
import t from 'tap';
import { COMPARE_SETS, parseBenchArgs } from '../../bench/flags.js';
import { renderNginxConfig } from '../../bench/nginx.js';
import { computeRatios } from '../../bench/ratios.js';
import type { ScenarioResult } from '../../bench/result-schema.js';
import { buildScenarios } from '../../bench/scenarios.js';

t.test('nginx over TLS: the same pair, TLS 1.2/1.3, the web tier\'s suites, a shared session cache', async (t) => {
  const plain = renderNginxConfig({ port: 8443, webRoot: '/srv', upstreamPort: null, prefix: '/tmp/n' });
  t.notMatch(plain, /ssl/, 'no TLS unless asked');
  const config = renderNginxConfig({ port: 8443, webRoot: '/srv', upstreamPort: 3000, prefix: '/tmp/n', tls: { certFile: '/c/leaf.pem', keyFile: '/c/leaf-key.pem' } });
  t.match(config, /listen 127\.0\.0\.1:8443 ssl;/);
  t.match(config, /ssl_certificate \/c\/leaf\.pem;/);
  t.match(config, /ssl_certificate_key \/c\/leaf-key\.pem;/);
  t.match(config, /ssl_protocols TLSv1\.2 TLSv1\.3;/);
  t.match(config, /ssl_session_cache shared:SSL:10m;/);
  t.match(config, /ssl_session_tickets on;/, 'TLS 1.3 resumption needs tickets (the resumed-handshake row)');
  t.match(config, /ssl_prefer_server_ciphers on;/);
  t.notMatch(config, /ssl_ciphers [^;]*(?:^|:)(?:AES|DHE|RSA-AES)/, 'ECDHE suites only');
});

t.test('--compare https names existing rows; the ratios pair each twotier row with its reference', async (t) => {
  const known = new Set(buildScenarios(1).map((scenario) => scenario.name));
  for (const name of COMPARE_SETS['https'] ?? []) t.ok(known.has(name), name);
  t.same(parseBenchArgs(['--compare', 'https'], {}, 2).scenarios, COMPARE_SETS['https']);
  const row = (name: string, rps: number): ScenarioResult => ({ name, status: 'ok', rps } as unknown as ScenarioResult);
  const ratios = computeRatios({ scenarios: [row('https-static-1k', 600), row('nginx-https-static-1k', 1000), row('proxy-echo-w1', 200), row('proxy-echo-upstream-tls', 150)] });
  t.match(ratios.find((ratio) => ratio.label === 'twotier ÷ nginx, https static 1 KiB'), { value: 0.6, target: 0.6 });
  t.match(ratios.find((ratio) => ratio.label === 'upstream TLS ÷ plain hop'), { value: 0.75 });
  t.equal(ratios.find((ratio) => ratio.label === 'twotier ÷ nginx, full TLS handshakes')?.value, null, 'a missing row gives no ratio');
  const resumed = computeRatios({ scenarios: [row('https-static-1k-resumed', 300), row('nginx-https-static-1k-resumed', 1000)] });
  t.match(resumed.find((ratio) => ratio.label === 'twotier ÷ nginx, resumed TLS handshakes'), { value: 0.3, target: 0.5 });
  const cpu = (name: string, cpuSeconds: number): ScenarioResult => ({ name, status: 'ok', rps: 1, requests: 1000, cpuSeconds } as unknown as ScenarioResult);
  t.equal(computeRatios({ scenarios: [cpu('https-static-1k-resumed', 4), cpu('nginx-https-static-1k-resumed', 1)] }).find((ratio) => ratio.label === 'resumed handshakes per server CPU second, twotier ÷ nginx')?.value, 0.25);
  // node:https alone (the floor): how much of the web tier's cost is Node's own, and where Node alone stands against nginx.
  const floor = computeRatios({ scenarios: [cpu('https-static-1k-resumed', 4), cpu('node-https-static-1k-resumed', 2), cpu('nginx-https-static-1k-resumed', 1)] });
  t.equal(floor.find((ratio) => ratio.label === 'resumed handshakes per server CPU second, twotier ÷ node:https alone')?.value, 0.5);
  t.equal(floor.find((ratio) => ratio.label === 'resumed handshakes per server CPU second, node:https alone ÷ nginx')?.value, 0.5);
});
