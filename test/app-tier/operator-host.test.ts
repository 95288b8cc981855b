/**
 * Issue 12 item 5, app tier: /metrics and /-/workers answer only a Host that is a loopback
 * name, an IP literal or one of APP_OPERATOR_HOSTS; any other Host gets 421 (RFC 9110
 * §15.5.20), as on the web tier. The peer rules (loopback / APP_OPERATOR_ALLOW, never through a
 * proxy → 404) still come first. The web tier's own /-/workers request is accepted.
 */
import t, { type Test } from 'tap';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../../common/logger.js';
import type { Application } from '../../common/app-interface.js';
import { DEFAULTS } from '../../app-tier/config.js';
import { createWorkerMetrics } from '../../app-tier/metrics.js';
import { createLocalSource } from '../../app-tier/metrics-cluster.js';
import { createOperatorEndpoints } from '../../app-tier/operator.js';
import { createWorkerServer } from '../../app-tier/worker.js';
import { createWorkerFetcher } from '../../web-tier/operator/app-workers.js';
import { rawExchange, type RawExchange } from '../helpers/raw-http.js';

const app: Application = {
  async handle() {
    return { status: 404, headers: {}, body: 'nothing here' };
  },
  async close() {},
};

async function start(t: Test, hosts: readonly string[]): Promise<AddressInfo> {
  const metrics = createWorkerMetrics({ isReady: () => true, rss: () => 1 });
  const worker = createWorkerServer({
    config: { ...DEFAULTS, port: 0 },
    logger: createLogger({ tier: 'app', level: 'silent' }),
    app,
    metrics,
    operator: createOperatorEndpoints({ allow: [], hosts, source: createLocalSource(metrics) }),
  });
  const address = await worker.listen();
  t.teardown(async () => {
    await worker.close();
    metrics.close();
  });
  return address;
}

const HOSTILE = ['attacker.example:3000', 'attacker.example', '127.0.0.1.nip.io', 'localhost.attacker.example', 'notlocalhost'];

t.test('/metrics and /-/workers refuse a Host that is not loopback, an IP literal or APP_OPERATOR_HOSTS', async (t) => {
  const { port } = await start(t, ['ops.example.net']);
  const get = (path: string, host: string, extra = ''): Promise<RawExchange> =>
    rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}Connection: close\r\n\r\n`, { timeoutMs: 5_000 });

  for (const host of HOSTILE) {
    for (const path of ['/metrics', '/-/workers']) {
      const answer = (await get(path, host)).responses[0];
      t.equal(answer?.status, 421, `${path} with Host ${host}`);
      t.match(JSON.parse(answer?.body ?? '{}'), { error: { code: 'APP_ERR_MISDIRECTED' } });
      t.notMatch(answer?.body, /app_http|"workers"/, 'nothing of the operator data leaks');
    }
  }
  const bare = await rawExchange(port, 'GET /metrics HTTP/1.0\r\n\r\n', { timeoutMs: 5_000 });
  t.equal(bare.responses[0]?.status, 421, 'HTTP/1.0 without Host is refused');

  for (const host of ['localhost', 'localhost:3000', 'LocalHost.', 'metrics.localhost', '127.0.0.1', `127.0.0.1:${port}`, '[::1]:3000', '198.18.0.11:3000', 'ops.example.net', 'OPS.EXAMPLE.NET:3000']) {
    t.equal((await get('/metrics', host)).responses[0]?.status, 200, `/metrics with Host ${host}`);
    t.equal((await get('/-/workers', host)).responses[0]?.status, 200, `/-/workers with Host ${host}`);
  }
  const forwarded = await get('/metrics', 'localhost', 'X-Forwarded-For: 203.0.113.9\r\n');
  t.equal(forwarded.responses[0]?.status, 404, 'a forwarded request is still not the operator, whatever its Host');
  t.equal((await get('/api/anything', 'attacker.example')).responses[0]?.status, 404, 'the application itself is not behind the operator Host rule');
});

t.test('the web tier\'s /-/workers request (its upstream URL: an IP literal or localhost) is accepted', async (t) => {
  const { port } = await start(t, []);
  const fetcher = createWorkerFetcher({ timeoutMs: 5_000, cacheMs: 0 });
  t.teardown(() => fetcher.close());
  t.match(await fetcher.workersOf(`http://127.0.0.1:${port}`), { ok: true, workers: [{ pid: process.pid }] });
  t.match(await fetcher.workersOf(`http://localhost:${port}`), { ok: true, workers: [{ pid: process.pid }] });
});
