/**
 * The multi-box placement on separate network stacks: a web box, two app boxes (each its own
 * clustered app tier) and a Postgres box, each in its own network namespace on one bridge,
 * addresses from 198.18.0.0/15. Every box runs `npm start -- --config <placement> --only …`
 * as a person would on that machine.
 */
import t, { type Test } from 'tap';
import { type ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connectBoxes, createNetns, netnsSkipReason, uniqueTag, type Netns } from '../helpers/netns.js';
import { postgresSkipReason, startPostgres } from '../helpers/postgres.js';
import { ROOT } from '../helpers/pm2.js';

const START = join(ROOT, 'dist', 'deploy', 'start.mjs');
const skip = netnsSkipReason() || postgresSkipReason() || (existsSync(START) ? false : 'dist/ is not built (npx tsc -p tsconfig.build.json)');

const NET = { client: '198.18.0.1', web: '198.18.0.10', app1: '198.18.0.11', app2: '198.18.0.12', db: '198.18.0.20' } as const;

interface Launched {
  readonly child: ChildProcess;
  readonly up: Promise<Record<string, unknown>>;
  /** Every JSON line so far (for failure messages). */
  readonly lines: Array<Record<string, unknown>>;
  /** Resolves with the first line whose msg is `msg`. */
  seen(msg: string): Promise<Record<string, unknown>>;
  stderr(): string;
}

/** `npm start -- args` inside a box; resolves `up` with the launcher's "twotier is up" line. */
function launch(t: Test, box: Netns, args: readonly string[], env: NodeJS.ProcessEnv): Launched {
  const child = box.spawn(process.execPath, [START, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit');
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  });
  const lines: Array<Record<string, unknown>> = [];
  const events = new EventEmitter();
  const seen = (msg: string): Promise<Record<string, unknown>> => {
    const found = lines.find((line) => line['msg'] === msg);
    return found === undefined ? once(events, msg).then(([line]) => line as Record<string, unknown>) : Promise.resolve(found);
  };
  const up = new Promise<Record<string, unknown>>((resolve, reject) => {
    void exited.then(() => reject(new Error(`launcher in ${box.name} exited: ${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (text) => {
      try {
        const line = JSON.parse(text) as Record<string, unknown>;
        lines.push(line);
        events.emit(String(line['msg']), line);
        if (line['msg'] === 'twotier is up') resolve(line);
      } catch {
        // Only JSON lines are expected on stdout.
      }
    });
  });
  return { child, up, lines, seen, stderr: () => stderr };
}

async function request(url: string, init: RequestInit = {}): Promise<{ status: number; ms: number; body: unknown }> {
  const started = Date.now();
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON (an error page).
  }
  return { status: response.status, ms: Date.now() - started, body };
}

t.test('multi-box: one web box, two app boxes, one Postgres box, on separate network stacks', { skip }, async (t) => {
  const tag = uniqueTag();
  const boxes = {
    web: await createNetns(t, `tt-${tag}-web`),
    app1: await createNetns(t, `tt-${tag}-app1`),
    app2: await createNetns(t, `tt-${tag}-app2`),
    db: await createNetns(t, `tt-${tag}-db`),
  };
  await connectBoxes(t, tag, [
    { netns: boxes.web, address: NET.web },
    { netns: boxes.app1, address: NET.app1 },
    { netns: boxes.app2, address: NET.app2 },
    { netns: boxes.db, address: NET.db },
  ], { hostAddress: NET.client });

  const cluster = await startPostgres(t, { netns: boxes.db.name, tcp: { host: NET.db, port: 5432 }, trustNetworks: ['198.18.0.0/24'] });
  await cluster.createDatabase('twotier');
  // The database box is down when the app boxes boot (compose, a reboot): they must wait for it.
  await cluster.stop();

  const dir = mkdtempSync(join(tmpdir(), 'twotier-multibox-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // The shape of deploy/placements/multi-box.json, with this test's addresses.
  const placement = join(dir, 'placement.json');
  writeFileSync(placement, JSON.stringify({
    web: { host: NET.web, port: 8080, upstreams: [`http://${NET.app1}:3000`, `http://${NET.app2}:3000`], proxyHealthIntervalMs: 500 },
    app: { host: '0.0.0.0', port: 3000, workers: 2, databaseUrl: `postgres://postgres@${NET.db}:5432/twotier`, operatorAllow: [NET.web] },
  }));
  const env = (box: string): NodeJS.ProcessEnv => ({ PATH: process.env['PATH'], HOME: dir, APP_PID_FILE: join(dir, `${box}.pid`), LOG_PRETTY: '0' });

  const app1 = launch(t, boxes.app1, ['--config', placement, '--only', 'app'], env('app1'));
  const app2 = launch(t, boxes.app2, ['--config', placement, '--only', 'app'], env('app2'));
  const retrying = await Promise.all([app1.seen('the database is unreachable at start; retrying'), app2.seen('the database is unreachable at start; retrying')]);
  t.match(retrying[0], { level: 50, attempt: 1, code: 'ECONNREFUSED' }, 'database down at start: a clear error line, then retries');
  await cluster.start();
  const [up1, up2] = await Promise.all([app1.up, app2.up]);
  t.match(up1, { app: { port: 3000, workers: 2 } }, 'app box 1 up with two workers');
  t.match(up2, { app: { port: 3000, workers: 2 } }, 'app box 2 up with two workers');
  const web = launch(t, boxes.web, ['--config', placement, '--only', 'web'], env('web'));
  t.match(await web.up, { web: { port: 8080, upstreams: [`http://${NET.app1}:3000`, `http://${NET.app2}:3000`] } });
  const site = `http://${NET.web}:8080`;

  t.test('requests reach both app boxes', async (t) => {
    const addresses = new Set<string>();
    for (let i = 0; i < 20 && addresses.size < 2; i += 1) {
      const echo = await request(`${site}/api/echo`);
      t.equal(echo.status, 200, 'answered through the web tier', { webProblems: web.lines.filter((line) => Number(line['level']) >= 40).slice(-3) });
      addresses.add(String((echo.body as { worker: { address: string } }).worker.address).replace(/^::ffff:/, ''));
    }
    t.same([...addresses].sort(), [NET.app1, NET.app2]);
  });

  t.test('an article written through one box is read through the other (one Postgres)', async (t) => {
    const created = await request(`http://${NET.app1}:3000/api/articles/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ title: `Written on box 1 ${tag}`, body: 'shared', published: '2003-05-17T10:00:00Z' }),
    });
    t.equal(created.status, 201, 'created on box 1', { body: created.body });
    const id = (created.body as { id: number }).id;
    const read = await request(`http://${NET.app2}:3000/api/articles/${id}/`);
    t.equal(read.status, 200);
    t.match(read.body, { id, title: `Written on box 1 ${tag}` });
  });

  t.test('the app boxes are not on the web box\'s loopback', async (t) => {
    const out = await boxes.web.exec(process.execPath, ['-e', "fetch('http://127.0.0.1:3000/healthz').then((r) => console.log('status ' + r.status), (e) => console.log('error ' + (e.cause?.code ?? e.message)))"], { env: env('web') });
    t.equal(out.stdout.trim(), 'error ECONNREFUSED');
  });

  t.test('database down while serving: 503 from the app tier, no crash, back when it is', async (t) => {
    await cluster.stop();
    const down = await request(`${site}/api/articles/`);
    t.equal(down.status, 503, 'articles: 503 while the database is down', { body: down.body });
    t.equal((await request(`${site}/api/echo`)).status, 200, 'requests that need no database still work');
    await cluster.start();
    let back = 0;
    // The pools reconnect on the next query; bounded.
    for (let i = 0; i < 20 && back !== 200; i += 1) back = (await request(`${site}/api/articles/`)).status;
    t.equal(back, 200, 'articles served again');
    t.equal(app1.child.exitCode, null, 'app box 1 kept running');
    t.equal(app2.child.exitCode, null, 'app box 2 kept running');
  });

  t.test('killing one app box leaves the site serving', async (t) => {
    await boxes.app2.killAll();
    const results: Array<{ status: number; ms: number }> = [];
    // Until the health checks mark box 2 down, a request sent to it may fail fast; then all
    // requests go to box 1. Bounded: at most 60 requests.
    for (let i = 0; i < 60; i += 1) {
      const { status, ms } = await request(`${site}/api/echo`);
      results.push({ status, ms });
      if (results.length >= 10 && results.slice(-10).every((r) => r.status === 200)) break;
    }
    t.ok(results.slice(-10).every((r) => r.status === 200), `the last 10 requests answered 200 (${results.map((r) => r.status).join(',')})`);
    t.ok(results.every((r) => r.status === 200 || r.status === 502 || r.status === 503), 'a failure, if any, is a 502/503 from the web tier');
    t.ok(results.every((r) => r.ms < 3_000), `no request hangs (slowest ${Math.max(...results.map((r) => r.ms))} ms)`);
  });
});
