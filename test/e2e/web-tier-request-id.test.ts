/**
 * Request correlation across the real tiers (issue 7): the web tier assigns the id (keeping an
 * incoming one only from a trusted proxy), forwards it, returns it, and `grep <id>` over both
 * tiers' captured logs shows the request's whole path.
 */
import t from 'tap';
import { request } from 'node:http';
import { startAppTier, type LogLine } from '../helpers/app-tier.js';
import { spawnEntry, WEB_MAIN, type JsonLine, type SpawnedEntry, type Teardown } from '../helpers/web-tier.js';

function get(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; id: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, id: String(res.headers['x-request-id']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function startWebTier(t: Teardown, env: Record<string, string>): Promise<{ web: SpawnedEntry; port: number }> {
  const web = spawnEntry(t, WEB_MAIN, { WEB_HOST: '127.0.0.1', WEB_PORT: '0', LOG_LEVEL: 'info', WEB_PROXY_HEALTH_INTERVAL_MS: '0', ...env });
  const listening = await web.waitForLine((line) => line['msg'] === 'listening');
  return { web, port: listening['port'] as number };
}

/** What `grep <id>` finds in a JSON log: every line whose text contains the id. */
function grep(lines: readonly (JsonLine | LogLine)[], id: string): (JsonLine | LogLine)[] {
  return lines.filter((line) => JSON.stringify(line).includes(id));
}

t.test('one id across both tiers: generated for a client, kept from a trusted proxy, in both logs', async (t) => {
  const app = await startAppTier(t, { workers: 1 });
  const open = await startWebTier(t, { APP_UPSTREAMS: app.url });
  const behindProxy = await startWebTier(t, { APP_UPSTREAMS: app.url, WEB_TRUSTED_PROXIES: '127.0.0.1' });

  const fromClient = await get(open.port, '/api/echo?who=client', { 'X-Request-Id': 'client-chosen-1' });
  t.equal(fromClient.status, 200);
  t.not(fromClient.id, 'client-chosen-1', 'an untrusted peer does not choose the id');
  t.match(fromClient.id, /^[0-9a-f-]{36}$/, 'a generated UUID');
  t.equal((JSON.parse(fromClient.body) as { headers: Record<string, string> }).headers['x-request-id'], fromClient.id, 'forwarded to the app');

  const fromProxy = await get(behindProxy.port, '/api/echo?who=proxy', { 'X-Request-Id': 'edge-7f3a.trace:42' });
  t.equal(fromProxy.id, 'edge-7f3a.trace:42', 'a trusted proxy\'s id is kept and returned');
  const injected = await get(behindProxy.port, '/api/echo', { 'X-Request-Id': 'bad id with spaces' });
  t.not(injected.id, 'bad id with spaces', 'an id that could inject into logs is replaced, even from a trusted proxy');

  for (const [web, id] of [[open.web, fromClient.id], [behindProxy.web, fromProxy.id]] as const) {
    await web.waitForLine((line) => line['msg'] === 'request' && line['reqId'] === id);
    await app.waitForLine((line) => line['msg'] === 'request' && line['reqId'] === id);
    const webLines = grep(web.lines, id);
    const appLines = grep(app.lines, id);
    t.match(webLines, [{ service: 'web', msg: 'request', reqId: id, tier: 'app', status: 200, upstream: app.url }], `grep ${id}: the web access line`);
    t.match(appLines, [{ reqId: id, msg: 'request', status: 200 }], `grep ${id}: the app line`);
    t.notOk(appLines.some((line) => line['service'] === 'web'), 'the app lines are the app\'s own');
  }
  t.equal(grep(app.lines, 'client-chosen-1').length, 0, 'the untrusted id appears nowhere in the app log');
});
