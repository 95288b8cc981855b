/**
 * The multi-box placement on separate network stacks: a web box, two app boxes (each its own
 * clustered app tier) and a Postgres box, each in its own network namespace on one bridge,
 * addresses from 198.18.0.0/15. Every box runs `npm start -- --config <placement> --only …`
 * as a person would on that machine.
 */
import t from 'tap';
import { createBoxes, launch, multiboxSkipReason, NET, request, writePlacement } from '../helpers/multibox.js';
import { startPostgres } from '../helpers/postgres.js';

const skip = multiboxSkipReason();

t.test('multi-box: one web box, two app boxes, one Postgres box, on separate network stacks', { skip }, async (t) => {
  const boxes = await createBoxes(t);
  const tag = boxes.tag;

  const cluster = await startPostgres(t, { netns: boxes.db.name, tcp: { host: NET.db, port: 5432 }, trustNetworks: ['198.18.0.0/24'] });
  await cluster.createDatabase('twotier');
  // The database box is down when the app boxes boot (compose, a reboot): they must wait for it.
  await cluster.stop();

  const { file: placement, env } = writePlacement(t, 'twotier-multibox-');

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
