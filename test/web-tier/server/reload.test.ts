/**
 * Config reload without dropped connections (issue 6): reload() builds a new proxy for the new
 * upstream list and limits; a request in flight on the old proxy still finishes there, and a
 * keep-alive client connection carries on.
 */
import t from 'tap';
import { Agent, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { startUpstream } from '../../helpers/upstream.js';
import { createFakeHandler, startWeb, withOverrides, type Teardown } from '../../helpers/web-tier.js';

async function upstream(t: Teardown, name: string, onSlow?: (res: ServerResponse) => void): Promise<string> {
  return (await startUpstream(t, (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    if (req.url === '/readyz') {
      res.end('ready');
      return;
    }
    if (req.url === '/api/slow' && onSlow !== undefined) {
      onSlow(res);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(name);
  })).url;
}

function fetchText(port: number, path: string, agent: Agent, init: { method?: string; body?: string } = {}): Promise<{ status: number; body: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent, method: init.method ?? 'GET', headers: { Accept: 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, localPort: res.socket?.localPort ?? 0 }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

t.test('reload: new upstreams and limits apply at once, the old proxy finishes its in-flight request, keep-alive survives', async (t) => {
  let finishSlow: () => void = () => undefined;
  let onArrived: () => void = () => undefined;
  const slowArrived = new Promise<void>((resolve) => (onArrived = resolve));
  const first = await upstream(t, 'A', (res) => {
    finishSlow = () => res.end('A slow');
    onArrived();
  });
  const second = await upstream(t, 'B');
  const { web, port, config, log } = await startWeb(t, {
    handlers: { static: createFakeHandler('static'), cgi: createFakeHandler('cgi') },
    env: { APP_UPSTREAMS: first, WEB_PROXY_HEALTH_INTERVAL_MS: '0' },
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const before = await fetchText(port, '/api/x', agent);
  t.equal(before.body, 'A');

  // A POST, which the proxy never retries once sent: only a drained old proxy lets it finish.
  const inFlight = fetchText(port, '/api/slow', new Agent(), { method: 'POST', body: 'z' });
  await slowArrived;

  const result = await web.reload(withOverrides(config, { proxy: { upstreams: [second] }, limits: { maxBodyBytes: 10 }, server: { port: 1 } }));
  t.same([...result.applied].sort(), ['limits.maxBodyBytes', 'proxy.upstreams']);
  t.same(result.needRestart, ['server.port'], 'the listening port needs a restart and is kept');

  const after = await fetchText(port, '/api/x', agent);
  t.equal(after.body, 'B', 'new requests go to the new upstream list');
  t.equal(after.localPort, before.localPort, 'over the same keep-alive connection');
  const tooBig = await fetchText(port, '/api/x', agent, { method: 'POST', body: 'x'.repeat(20) });
  t.equal(tooBig.status, 413, 'the new body limit applies');

  finishSlow();
  const slow = await inFlight;
  t.equal(slow.status, 200, 'the request in flight on the old proxy finished');
  t.equal(slow.body, 'A slow');
  t.notOk(log.lines().some((line) => line['level'] === 50), 'no error line');
});
