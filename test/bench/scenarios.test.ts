/**
 * The issue 8 rows, started for real (built JavaScript under dist/) without load: which
 * command line and environment the servers get, and that each answers the way its row says.
 */
import t, { type Test } from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { distPath, NODE_FLAGS_FILE, parseWebNodeFlags, repoRoot, webNodeFlags } from '../../bench/environment.js';
import { baseEnv } from '../../bench/launcher.js';
import { sampleTree } from '../../bench/process-sampler.js';
import { buildScenarios, webTierArgs, type RunningScenario, type ScenarioContext } from '../../bench/scenarios.js';

const ROOT = repoRoot();
/** Read here on its own, so the test does not trust the code it checks. */
const SHIPPED_FLAGS = (JSON.parse(readFileSync(join(ROOT, 'deploy', 'node-flags.json'), 'utf8')) as { web: string[] }).web;
const BUILT = [distPath('web-tier', 'main.js'), distPath('app-tier', 'main.js'), distPath('bench', 'sirv-server.js')];
const missing = BUILT.find((file) => !existsSync(file));
const needsBuild = { skip: missing === undefined ? false : `${missing} is missing: run npm run build` };

function commandLine(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((part) => part !== '');
}

function environment(pid: number): Record<string, string> {
  const pairs = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter((part) => part.includes('='));
  return Object.fromEntries(pairs.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
}

function context(t: Test, preload?: string): ScenarioContext {
  const workDir = mkdtempSync(join(tmpdir(), 'twotier-bench-rows-'));
  t.teardown(() => rmSync(workDir, { recursive: true, force: true }));
  const webRoot = join(workDir, 'www');
  mkdirSync(webRoot);
  writeFileSync(join(webRoot, '1k.txt'), 'x'.repeat(1024));
  const serverEnv = baseEnv(process.env);
  if (preload !== undefined) {
    const file = join(workDir, 'preload.mjs');
    writeFileSync(file, preload);
    serverEnv['NODE_OPTIONS'] = `--import=${pathToFileURL(file).href}`;
  }
  return { root: ROOT, workDir, webRoot, serverCpus: null, nginxPath: null, serverEnv, concurrency: 2 };
}

async function start(t: Test, name: string, preload?: string): Promise<RunningScenario> {
  const scenario = buildScenarios(1).find((row) => row.name === name);
  if (scenario === undefined) throw new Error(`no row ${name}`);
  const running = await scenario.start(context(t, preload));
  t.teardown(() => running.close());
  return running;
}

/**
 * Holds the second cluster worker (cluster.worker.id 2) back before it loads the web tier, so
 * the primary listens, and answers through worker 1, well before worker 2 can: a row that did
 * not wait for every worker would be measured with one.
 */
const SLOW_SECOND_WORKER = [
  "import cluster from 'node:cluster';",
  'if (cluster.worker?.id === 2) await new Promise((resolve) => setTimeout(resolve, 1500));',
  '',
].join('\n');

/** One GET over a fresh connection (node:cluster hands out connections, not requests). */
function fresh(url: string, headers: Record<string, string> = {}, timeoutMs = 5_000): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false, headers, timeout: timeoutMs }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
      response.on('error', reject);
    }).on('error', reject).on('timeout', function (this: { destroy(error: Error): void }) {
      this.destroy(new Error('timed out'));
    });
  });
}

t.test('the web tier node flags come from deploy/node-flags.json, read when a web tier starts', async (t) => {
  t.ok(SHIPPED_FLAGS.length > 0, 'the shipped file names some flags');
  t.same(webNodeFlags(ROOT), SHIPPED_FLAGS);
  t.same(webTierArgs(ROOT), [...SHIPPED_FLAGS, distPath('web-tier', 'main.js')], 'flags before the script');
  t.equal(NODE_FLAGS_FILE, join('deploy', 'node-flags.json'));
  t.same(parseWebNodeFlags('{"web":["--a=1"],"app":[]}', 'f.json'), ['--a=1']);
  t.throws(() => parseWebNodeFlags('{"web":"--a"}', 'f.json'), /f\.json: "web" must be a list of node flags/);
  t.throws(() => parseWebNodeFlags('{"web":["a"]}', 'f.json'), /"web" must be a list/);
  t.throws(() => parseWebNodeFlags('{', 'f.json'), /f\.json: not JSON/);
  const empty = mkdtempSync(join(tmpdir(), 'twotier-no-flags-'));
  t.teardown(() => rmSync(empty, { recursive: true, force: true }));
  t.throws(() => webNodeFlags(empty), new RegExp(`cannot read the web tier's node flags from ${join(empty, 'deploy', 'node-flags.json')}`));
});

t.test('proxy-echo-w1-http-proxy: the web tier runs the shipped flags and WEB_PROXY_ENGINE=http-proxy', needsBuild, async (t) => {
  const running = await start(t, 'proxy-echo-w1-http-proxy');
  const [web, app] = running.pids as [number, number];
  t.same(commandLine(web).slice(1), [...SHIPPED_FLAGS, distPath('web-tier', 'main.js')], 'node <flags> dist/web-tier/main.js');
  t.equal(environment(web)['WEB_PROXY_ENGINE'], 'http-proxy');
  t.notOk(commandLine(app).some((arg) => SHIPPED_FLAGS.includes(arg)), 'the app tier keeps V8 defaults');
  const answer = await fresh(running.url);
  t.equal(answer.status, 200);
  t.equal(answer.headers['x-served-by'], 'app', 'answered through the proxy');
  const plain = buildScenarios(1).find((row) => row.name === 'proxy-echo-w1');
  t.match(plain?.description, /through the proxy \(plain engine\)/);
});

t.test('static-1k-web-w2: unpinned, ready only once both workers serve, every worker with the flags', needsBuild, async (t) => {
  const running = await start(t, 'static-1k-web-w2', SLOW_SECOND_WORKER);
  t.equal(running.servedBy, 'static');
  const [primary] = running.pids as [number];
  t.equal(commandLine(primary)[0], process.execPath, 'not started through taskset');
  // Asked right after start() resolved, without retrying: both workers must already take connections.
  const pids = new Set<number>();
  for (let request = 0; request < 4; request += 1) {
    const status = await fresh(running.url.replace(/\/1k\.txt$/, '/-/status.json'));
    pids.add((JSON.parse(status.body) as { web: { pid: number } }).web.pid);
  }
  t.equal(pids.size, 2, 'two distinct workers answer');
  const tree = sampleTree([primary]).pids;
  for (const pid of pids) {
    t.ok(tree.includes(pid) && pid !== primary, `worker ${pid} is a child of the primary`);
    t.same(commandLine(pid).filter((arg) => SHIPPED_FLAGS.includes(arg)), SHIPPED_FLAGS, `worker ${pid} runs with the flags`);
  }
  const file = await fresh(running.url);
  t.equal(file.status, 200);
  t.equal(file.body.length, 1024);
  t.match(buildScenarios(1).find((row) => row.name === 'static-1k-web-w1')?.description, /not pinned/);
});

t.test('sirv-static-1k: the same file, an ETag, 304 on a match', needsBuild, async (t) => {
  const running = await start(t, 'sirv-static-1k');
  t.equal(running.servedBy, null, 'sirv names nobody in X-Served-By');
  const first = await fresh(running.url);
  t.equal(first.status, 200);
  t.equal(first.body, 'x'.repeat(1024));
  const etag = first.headers['etag'];
  t.type(etag, 'string', 'ETag sent');
  const again = await fresh(running.url, { 'If-None-Match': etag as string });
  t.equal(again.status, 304);
  t.equal(environment(running.pids[0] as number)['NODE_ENV'], 'production');
});

t.test('cgi-shell and cgi-echo: the CGI gateway is off by default (issue 12), so the rows turn it on', needsBuild, async (t) => {
  const running = await start(t, 'cgi-shell');
  t.equal(environment(running.pids[0] as number)['WEB_CGI'], 'on');
  const answer = await fresh(running.url);
  t.equal(answer.status, 200);
  t.equal(answer.headers['x-served-by'], 'cgi', 'a script ran');
  t.match(buildScenarios(1).find((row) => row.name === 'cgi-echo')?.description, /WEB_CGI=on/);
});

t.test('issue 18 rows: the hello app in its three modes and the Express app with and without fromNodeHandler answer alike', needsBuild, async (t) => {
  for (const [name, servedBy] of [['hello-persistent', 'app'], ['hello-embedded', 'embedded'], ['hello-cgi', 'cgi']] as const) {
    const running = await start(t, name);
    t.equal(running.servedBy, servedBy, `${name} checks X-Served-By: ${servedBy}`);
    // A CGI request starts Node: seconds on a loaded box.
    const answer = await fresh(running.url, {}, 30_000);
    t.same([answer.status, answer.headers['x-served-by'], answer.body], [200, servedBy, 'Hello world!\n'], `${name}: the hello app answered`);
    await running.close();
  }
  const bodies: string[] = [];
  for (const name of ['express-app-tier', 'express-own-server', 'express-adapter-bare']) {
    const running = await start(t, name);
    const answer = await fresh(running.url, {}, 30_000);
    t.equal(answer.status, 200, `${name}: 200`);
    t.match(answer.headers['content-type'], /^application\/json/);
    bodies.push(answer.body);
    await running.close();
  }
  t.same(bodies, ['{"hello":"world"}', '{"hello":"world"}', '{"hello":"world"}'], 'the same Express answer with and without twotier, and through the adapter alone');
});
