/**
 * createWebServer without injected handlers: the real static, proxy and CGI handlers built
 * from config, in this process, against a temp site, a stub upstream and a temp cgi-bin.
 */
import t from 'tap';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWeb } from '../../helpers/web-tier.js';

function get(port: number, path: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('static, proxy and cgi handlers built from config', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-web-default-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const root = join(dir, 'public');
  const cgiDir = join(dir, 'cgi-bin');
  mkdirSync(root);
  mkdirSync(cgiDir);
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>home</title>\n');
  writeFileSync(join(root, 'app.0123abcd.js'), 'console.log(1)\n');
  writeFileSync(join(cgiDir, 'hello'), '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\nhello %s\\n" "$PATH_INFO"\n');
  // RFC 3875 §6.2.2: a local redirect is served by the server as if that path was asked for.
  writeFileSync(join(cgiDir, 'home'), '#!/bin/sh\nprintf "Location: /index.html\\r\\n\\r\\n"\n');
  chmodSync(join(cgiDir, 'hello'), 0o755);
  chmodSync(join(cgiDir, 'home'), 0o755);

  const upstream = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(`upstream saw ${req.method ?? ''} ${req.url ?? ''}\n`);
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => upstream.close(() => resolve())));
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

  const { port } = await startWeb(t, {
    // WEB_CGI=on: the gateway is off by default (issue 12); this test is about the handler built from config.
    env: { WEB_ROOT: root, WEB_CGI: 'on', WEB_CGI_DIR: cgiDir, APP_UPSTREAMS: upstreamUrl },
    config: { static: { cacheControl: [{ pattern: '\\.[0-9a-f]{8}\\.js$', value: 'public, max-age=31536000, immutable' }, { value: 'no-cache' }] } },
  });

  const home = await get(port, '/');
  t.equal(home.status, 200);
  t.equal(home.headers['x-served-by'], 'static');
  t.match(home.body, /<title>home<\/title>/);
  t.equal(home.headers['cache-control'], 'no-cache', 'cacheControl rules from config reach the static handler');
  t.equal((await get(port, '/app.0123abcd.js')).headers['cache-control'], 'public, max-age=31536000, immutable');

  const proxied = await get(port, '/api/echo?x=1');
  t.equal(proxied.status, 200);
  t.equal(proxied.headers['x-served-by'], 'app');
  t.equal(proxied.body, 'upstream saw GET /api/echo?x=1\n');
  t.equal((await get(port, '/readyz')).status, 200, 'ready: the proxy has a healthy upstream');

  const cgi = await get(port, '/cgi-bin/hello/extra');
  t.equal(cgi.status, 200);
  t.equal(cgi.headers['x-served-by'], 'cgi');
  t.equal(cgi.body, 'hello /extra\n');

  const redirected = await get(port, '/cgi-bin/home');
  t.equal(redirected.status, 200);
  t.match(redirected.body, /<title>home<\/title>/, 'the local redirect is served by the static handler');

  // The handlers report to the operator metrics: CGI processes started, static cache lookups.
  const metrics = (await get(port, '/-/metrics')).body;
  const sample = (name: string): number => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(metrics)?.[1] ?? 'NaN');
  t.equal(sample('twotier_web_cgi_processes_started_total'), 2, 'both CGI requests counted');
  t.ok(Number(/^twotier_web_static_cache_lookups_total\{result="(?:hit|miss)"\} (\d+)/m.exec(metrics)?.[1] ?? 0) >= 1, 'static cache lookups counted');
});
