/**
 * Issue 17: every recipe of /status-codes/ (app-tier/app/status-codes.ts) followed against the
 * built tiers, as the page tells a learner to: the code must be the one the page names. And a
 * report job survives its worker: SIGKILL the worker that accepted it, the job still completes.
 */
import t, { type Test } from 'tap';
import { connect } from 'node:net';
import { STATUS_CODES, type Recipe, type Setup } from '../../app-tier/app/status-codes.js';
import { send, startAppTier, type AppTierProcess } from '../helpers/app-tier.js';
import { spawnEntry, WEB_MAIN } from '../helpers/web-tier.js';

t.setTimeout(300_000);

const PROXY_TIMEOUT_MS = 2_000;

async function startWebTier(t: Test, upstream: string, env: Record<string, string> = {}): Promise<string> {
  const web = spawnEntry(t, WEB_MAIN, {
    WEB_HOST: '127.0.0.1', WEB_PORT: '0', LOG_LEVEL: 'info', APP_UPSTREAMS: upstream, WEB_PROXY_RESPONSE_TIMEOUT_MS: String(PROXY_TIMEOUT_MS), ...env,
  });
  const listening = await web.waitForLine((line) => line['msg'] === 'listening', 60_000);
  return `http://127.0.0.1:${listening['port'] as number}`;
}

/** Raw bytes on a socket (the nc recipe, and Expect: 100-continue): the status lines in order. */
function rawExchange(base: string, head: string, body?: string): Promise<number[]> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.write(head));
    let text = '';
    let sentBody = false;
    const timer = setTimeout(() => socket.destroy(new Error(`no answer to ${JSON.stringify(head)}`)), 20_000);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      // 100 Continue: now the body (RFC 9110 §10.1.1).
      if (body !== undefined && !sentBody && /^HTTP\/1\.1 100 /.test(text)) {
        sentBody = true;
        socket.write(body);
      }
      if (/^HTTP\/1\.1 [2-5]\d\d /m.test(text)) socket.end();
    });
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve([...text.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((found) => Number(found[1])));
    });
  });
}

async function follow(base: string, recipe: Recipe, job?: string): Promise<number[]> {
  if (recipe.raw !== undefined) return rawExchange(base, recipe.raw);
  const headers = { ...recipe.headers };
  if (headers['Expect'] !== undefined) {
    const body = recipe.body ?? '';
    const head = `${recipe.method} ${recipe.path} HTTP/1.1\r\nHost: ${new URL(base).host}\r\nConnection: close\r\n` +
      `${Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    return rawExchange(base, head, body);
  }
  const path = recipe.path === '{job}' ? job ?? '' : recipe.path;
  const statuses: number[] = [];
  for (let round = 0; round < (recipe.repeat ?? 1); round += 1) {
    statuses.push((await send(`${base}${path}`, { method: recipe.method, headers, ...(recipe.body === undefined ? {} : { body: recipe.body }) })).status);
  }
  return statuses;
}

function rows(setup: Setup) {
  return STATUS_CODES.filter((entry) => entry.recipe.setup === setup);
}

/** The report-done recipe's {job}: POST /api/reports/, then wait as Retry-After says. */
async function finishedJob(base: string): Promise<string> {
  const accepted = await send(`${base}/api/reports/`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
  const location = accepted.headers.location ?? '';
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    if ((await send(`${base}${location}`)).status !== 200) break;
    await new Promise((resolve) => setTimeout(resolve, Number(accepted.headers['retry-after'] ?? 1) * 250));
  }
  return location;
}

t.test('every recipe on /status-codes/ gives its code', async (t) => {
  const app = await startAppTier(t, { workers: 2, env: { APP_FAULT_ROUTES: 'true' }, readyTimeoutMs: 60_000 });
  const base = await startWebTier(t, app.url);
  const page = await send(`${base}/status-codes/`);
  t.equal(page.status, 200, '/status-codes/ itself');

  const job = await finishedJob(base);
  for (const entry of [...rows('none'), ...rows('fault-routes'), ...rows('report-done')]) {
    const statuses = await follow(base, entry.recipe, job);
    // An informational answer comes first, before the final one; any other code is the last answer.
    t.equal(entry.status < 200 ? statuses[0] : statuses.at(-1), entry.status, `${entry.code} ${entry.reason}: ${entry.recipe.method} ${entry.recipe.path} (${statuses.join(' then ')})`);
  }

  const guarded = await startAppTier(t, { workers: 1, env: { APP_TOKEN: 's3cret' }, readyTimeoutMs: 60_000 });
  const guardedBase = await startWebTier(t, guarded.url);
  for (const entry of rows('app-token')) {
    t.same(await follow(guardedBase, entry.recipe), [entry.status], `${entry.code} ${entry.reason} with APP_TOKEN set`);
  }

  // No app tier behind a web tier whose health checks are off: the gateway's codes, in the page's order.
  await stop(app);
  const alone = await startWebTier(t, app.url, { WEB_PROXY_HEALTH_INTERVAL_MS: '0' });
  for (const entry of rows('app-stopped')) {
    const statuses = await follow(alone, entry.recipe);
    t.equal(statuses.at(-1), entry.status, `${entry.code} ${entry.reason} with no app tier (${statuses.join(' then ')})`);
  }
});

async function stop(app: AppTierProcess): Promise<void> {
  const exited = app.exited();
  app.child.kill('SIGTERM');
  await exited;
}

t.test('a report job completes after the worker that accepted it is killed', async (t) => {
  const app = await startAppTier(t, { workers: 2, env: { APP_REPORT_STEP_DELAY_MS: '500' }, readyTimeoutMs: 60_000 });
  const accepted = await send(`${app.url}/api/reports/`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
  t.equal(accepted.status, 202);
  const { acceptedBy, progress } = accepted.json<{ acceptedBy: number; progress: { total: number } }>();
  process.kill(acceptedBy, 'SIGKILL');
  // Polled straight at the app tier (no web tier to retry): a connection the primary hands to the
  // worker as it dies is lost with it, so poll once the primary has seen the death.
  await app.waitForLine((line) => line.msg === 'worker died; replacing it' && line['workerPid'] === acceptedBy, 30_000);
  const location = accepted.headers.location ?? '';
  let last = await send(`${app.url}${location}`);
  const until = Date.now() + 60_000;
  while (last.status !== 303 && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    last = await send(`${app.url}${location}`);
  }
  t.equal(last.status, 303, 'the job was finished by another worker');
  const { workers, progress: done } = last.json<{ workers: number[]; progress: { done: number; total: number } }>();
  t.notOk(workers.includes(acceptedBy), `no step ran in the killed worker ${acceptedBy} (steps by ${workers.join(', ')})`);
  t.same(done, { done: progress.total, total: progress.total }, 'every article counted');
  const report = await send(`${app.url}${last.headers.location ?? ''}`);
  t.equal(report.status, 200);
  t.equal(report.json<{ articles: number }>().articles, progress.total);
});
