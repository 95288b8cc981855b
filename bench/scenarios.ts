/**
 * The rows of the benchmark. Each scenario starts its own servers (logging silent, port 0),
 * names the URL to load, and stops them afterwards; the runner knows nothing about tiers.
 * nginx and sirv rows slot in beside the twotier rows they are compared with (issue 8).
 */
import { join } from 'node:path';
import { distPath, webNodeFlags } from './environment.js';
import { launchServer, type LaunchedServer } from './launcher.js';
import { startNginx } from './nginx.js';
import { waitForWorkers, webProcessPid } from './readiness.js';
import { httpsScenarios } from './https-rows.js';
import { wsScenarios } from './ws-rows.js';
import type { TlsResumeSpec } from './tls-resume-load.js';

export interface ScenarioContext {
  /** Working directory of the servers (the repository root). */
  readonly root: string;
  /** Scratch directory of this run: web root, databases, nginx config. */
  readonly workDir: string;
  /** Holds 1k.txt and 100k.txt. */
  readonly webRoot: string;
  readonly serverCpus: string | null;
  readonly nginxPath: string | null;
  /** What every server starts with (launcher.ts baseEnv). */
  readonly serverEnv: Readonly<Record<string, string>>;
  /** Load concurrency: the CGI cap must not turn the measured load into 503s. */
  readonly concurrency: number;
  /** Idle WebSocket connections per idle row (--ws-idle): nginx's worker_connections is sized for them. */
  readonly wsIdleConnections?: number;
}

export interface RunningScenario {
  readonly url: string;
  /** The X-Served-By the answer must carry, so a row measures the path its name says; null: unchecked. */
  readonly servedBy: string | null;
  /** https rows (bench/https-rows.ts): the CA the answer check verifies against. */
  readonly ca?: string;
  /** Request headers of every load request (Connection: close for a new connection per request). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Resumed-handshake rows: load with bench/tls-resume-load.ts (a new connection per request, resuming) instead of autocannon. */
  readonly tlsResume?: TlsResumeSpec;
  /** Every process the scenario started; the sampler adds their descendants. */
  readonly pids: readonly number[];
  /** WebSocket rows (ws-rows.ts): the proxy whose RSS per idle connection is measured (the upstream is not). */
  readonly frontPid?: number;
  close(): Promise<void>;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  /**
   * Run by request count instead of for a duration: flags.cgiRequests × factor requests, capped
   * at flags.cgiMaxSec. For rows so slow that a short run may finish none (CGI starting Node).
   */
  readonly byCount?: { readonly factor: number };
  /** Loaded by bench/ws-rows.ts's WebSocket clients instead of autocannon (issue 16). */
  readonly load?: 'ws-echo' | 'ws-idle';
  /** Processes of the front server sharing the row's connections (the 2-worker idle WebSocket rows); 1 when absent. */
  readonly frontWorkers?: number;
  /** Left out of the default run (all rows); run when named, e.g. by `--compare websocket`. */
  readonly optIn?: boolean;
  /** Why the row cannot run on this machine, or null. */
  skipReason(ctx: ScenarioContext): string | null;
  start(ctx: ScenarioContext): Promise<RunningScenario>;
}

export const STATIC_FILES = { small: { name: '1k.txt', bytes: 1024 }, large: { name: '100k.txt', bytes: 100 * 1024 } } as const;

/** Placeholder upstream for rows without an app tier: nothing listens on the discard port. */
const NO_UPSTREAM = 'http://127.0.0.1:9';

function databaseUrl(ctx: ScenarioContext, name: string): string {
  return `sqlite:${join(ctx.workDir, `${name}.db`)}`;
}

/**
 * Resolves once all `workers` workers serve, so a wN row never measures fewer. With `appModule`
 * (APP_MODULE, issue 18) the tier has one worker: it listens once that worker does, and the
 * built-in echo the readiness check asks is not there.
 */
export async function startAppTier(ctx: ScenarioContext, workers: number, dbName: string, appModule?: string): Promise<LaunchedServer> {
  const app = await launchServer({
    name: `app tier (${workers} worker${workers === 1 ? '' : 's'}${appModule === undefined ? '' : `, ${appModule}`})`,
    command: process.execPath,
    args: [distPath('app-tier', 'main.js')],
    env: { ...ctx.serverEnv, APP_HOST: '127.0.0.1', APP_PORT: '0', APP_WORKERS: String(workers), DATABASE_URL: databaseUrl(ctx, dbName), ...(appModule === undefined ? {} : { APP_MODULE: join(ctx.root, appModule) }) },
    cwd: ctx.root,
    cpuList: ctx.serverCpus,
  });
  if (appModule !== undefined) return app;
  try {
    await waitForWorkers({ port: app.port, workers });
  } catch (error) {
    await app.close();
    throw error;
  }
  return app;
}

export interface WebTierOptions {
  /** Over the row's defaults: WEB_PROXY_ENGINE, WEB_WORKERS … */
  readonly env?: Readonly<Record<string, string>>;
  /** taskset CPU list instead of ctx.serverCpus; null: every CPU. */
  readonly cpuList?: string | null;
}

/** `node <deploy/node-flags.json "web"> dist/web-tier/main.js`: the flags every launcher ships with. */
export function webTierArgs(root: string): string[] {
  return [...webNodeFlags(root), distPath('web-tier', 'main.js')];
}

export async function startWebTier(ctx: ScenarioContext, dynamic: 'proxy' | 'embedded' | 'cgi', upstream: string, dbName: string, options: WebTierOptions = {}): Promise<LaunchedServer> {
  const extra = Object.entries(options.env ?? {}).map(([key, value]) => `${key}=${value}`);
  return launchServer({
    name: `web tier (${[dynamic, ...extra].join(', ')})`,
    command: process.execPath,
    args: webTierArgs(ctx.root),
    env: {
      ...ctx.serverEnv,
      WEB_HOST: '127.0.0.1',
      WEB_PORT: '0',
      WEB_ROOT: ctx.webRoot,
      APP_UPSTREAMS: upstream,
      WEB_DYNAMIC: dynamic,
      WEB_CGI_MAX_PROCESSES: String(Math.max(16, ctx.concurrency + 1)),
      DATABASE_URL: databaseUrl(ctx, dbName),
      ...options.env,
    },
    cwd: ctx.root,
    cpuList: options.cpuList === undefined ? ctx.serverCpus : options.cpuList,
  });
}

/**
 * WEB_WORKERS=N: the primary listens as soon as its first worker does, so the row waits until N
 * distinct worker pids have answered /-/status.json over fresh connections (bounded: 20 s).
 */
export async function startClusteredWebTier(ctx: ScenarioContext, workers: number, dbName: string, cpuList: string | null): Promise<LaunchedServer> {
  const web = await startWebTier(ctx, 'proxy', NO_UPSTREAM, dbName, { env: { WEB_WORKERS: String(workers) }, cpuList });
  await waitForWebWorkers(web, workers);
  return web;
}

/** Waits until `workers` distinct web tier workers have answered; stops the web tier if they never do. */
export async function waitForWebWorkers(web: LaunchedServer, workers: number): Promise<void> {
  try {
    await waitForWorkers({ port: web.port, workers, path: '/-/status.json', pidOf: webProcessPid, what: 'web tier workers' });
  } catch (error) {
    await web.close();
    throw error;
  }
}

/** Stops servers front to back, so the web tier never sees its upstream vanish mid-request. */
function running(url: string, servedBy: string | null, servers: readonly LaunchedServer[]): RunningScenario {
  return {
    url,
    servedBy,
    pids: servers.map((server) => server.pid),
    close: async () => {
      for (const server of servers) await server.close();
    },
  };
}

/** Starts `first`, then `second(first)`; if the second fails the first is stopped. */
async function chain(first: Promise<LaunchedServer>, second: (server: LaunchedServer) => Promise<LaunchedServer>): Promise<LaunchedServer[]> {
  const back = await first;
  try {
    return [await second(back), back];
  } catch (error) {
    await back.close();
    throw error;
  }
}

const always = (): null => null;

function webOnly(name: string, description: string, path: string, dynamic: 'proxy' | 'embedded' | 'cgi', servedBy: string, options: WebTierOptions & { byCount?: { factor: number } } = {}): Scenario {
  return {
    name,
    description,
    ...(options.byCount === undefined ? {} : { byCount: options.byCount }),
    skipReason: always,
    start: async (ctx) => {
      const web = await startWebTier(ctx, dynamic, NO_UPSTREAM, name, options);
      return running(`http://127.0.0.1:${web.port}${path}`, servedBy, [web]);
    },
  };
}

function proxied(name: string, description: string, path: string, workers: number, web: WebTierOptions = {}): Scenario {
  return {
    name,
    description,
    skipReason: always,
    start: async (ctx) => {
      const servers = await chain(startAppTier(ctx, workers, name), (app) => startWebTier(ctx, 'proxy', `http://127.0.0.1:${app.port}`, name, web));
      return running(`http://127.0.0.1:${(servers[0] as LaunchedServer).port}${path}`, 'app', servers);
    },
  };
}

/** The web tier alone with WEB_WORKERS=N, its processes on every CPU (not ctx.serverCpus). */
function webWorkersRow(name: string, description: string, path: string, workers: number): Scenario {
  return {
    name,
    description,
    skipReason: always,
    start: async (ctx) => {
      const web = await startClusteredWebTier(ctx, workers, name, null);
      return running(`http://127.0.0.1:${web.port}${path}`, 'static', [web]);
    },
  };
}

/** sirv (bench/sirv-server.ts) on the same web root, pinned like every other server. */
function sirvRow(name: string, description: string, path: string): Scenario {
  return {
    name,
    description,
    skipReason: always,
    start: async (ctx) => {
      const sirv = await launchServer({
        name: 'sirv',
        command: process.execPath,
        args: [distPath('bench', 'sirv-server.js'), ctx.webRoot],
        env: { ...ctx.serverEnv, NODE_ENV: 'production' },
        cwd: ctx.root,
        cpuList: ctx.serverCpus,
      });
      return running(`http://127.0.0.1:${sirv.port}${path}`, null, [sirv]);
    },
  };
}

function nginxRow(name: string, description: string, path: string, withApp: boolean, edgeHeaders = false): Scenario {
  return {
    name,
    description,
    skipReason: (ctx) => (ctx.nginxPath === null ? 'nginx is not on PATH' : null),
    start: async (ctx) => {
      const nginxPath = ctx.nginxPath as string;
      if (!withApp) {
        const nginx = await startNginx({ nginxPath, workDir: join(ctx.workDir, name), webRoot: ctx.webRoot, upstreamPort: null, cpuList: ctx.serverCpus, env: ctx.serverEnv });
        return running(`http://127.0.0.1:${nginx.port}${path}`, null, [nginx]);
      }
      const servers = await chain(startAppTier(ctx, 1, name), (app) =>
        startNginx({ nginxPath, workDir: join(ctx.workDir, name), webRoot: ctx.webRoot, upstreamPort: app.port, edgeHeaders, cpuList: ctx.serverCpus, env: ctx.serverEnv }));
      return running(`http://127.0.0.1:${(servers[0] as LaunchedServer).port}${path}`, null, servers);
    },
  };
}

const HELLO_APP = join('examples', 'hello', 'app.js');
const EXPRESS_APP = join('examples', 'express', 'app.js');

/** An APP_MODULE app (issue 18) in one of the three modes: behind the proxy, embedded, or CGI. */
function appModuleRow(name: string, description: string, module: string, mode: 'persistent' | 'embedded' | 'cgi', path: string): Scenario {
  return {
    name,
    description,
    ...(mode === 'cgi' ? { byCount: { factor: 1 } } : {}),
    skipReason: always,
    start: async (ctx) => {
      const env = { APP_MODULE: join(ctx.root, module) };
      if (mode === 'embedded') {
        const web = await startWebTier(ctx, 'embedded', NO_UPSTREAM, name, { env });
        return running(`http://127.0.0.1:${web.port}${path}`, 'embedded', [web]);
      }
      if (mode === 'cgi') {
        // cgi-bin/app runs the gateway's APP_MODULE, never a request's (issue 18).
        const web = await startWebTier(ctx, 'proxy', NO_UPSTREAM, name, { env: { ...env, WEB_CGI: 'on' } });
        return running(`http://127.0.0.1:${web.port}/cgi-bin/app${path}`, 'cgi', [web]);
      }
      const servers = await chain(startAppTier(ctx, 1, name, module), (app) => startWebTier(ctx, 'proxy', `http://127.0.0.1:${app.port}`, name));
      return running(`http://127.0.0.1:${(servers[0] as LaunchedServer).port}${path}`, 'app', servers);
    },
  };
}

/**
 * The Express example through fromNodeHandler in an app tier worker, on its own http.createServer,
 * or (bare) through the node adapter alone on a bare http.createServer (bench/express-adapter-server.ts).
 */
function expressRow(name: string, description: string, host: 'app-tier' | 'own' | 'bare'): Scenario {
  return {
    name,
    description,
    skipReason: always,
    start: async (ctx) => {
      const server = host === 'app-tier'
        ? await startAppTier(ctx, 1, name, EXPRESS_APP)
        : await launchServer({
          name: host === 'own' ? 'express on http.createServer' : 'express through the node adapter on http.createServer',
          command: process.execPath,
          args: [distPath('bench', host === 'own' ? 'express-server.js' : 'express-adapter-server.js'), join(ctx.root, EXPRESS_APP)],
          env: ctx.serverEnv, cwd: ctx.root, cpuList: ctx.serverCpus,
        });
      return running(`http://127.0.0.1:${server.port}/api/hello`, null, [server]);
    },
  };
}

/** Unpinned rows say so: their figures include sharing cores with the load generator. */
const UNPINNED = 'not pinned: the web tier\'s processes may run on every CPU, including the load generator\'s (on 2 cores they share one with it)';

/** Every scenario, in report order; proxy-echo-w1 … wN for N = maxWorkers; reference rows (sirv, nginx) last. */
export function buildScenarios(maxWorkers: number): Scenario[] {
  const small = `/${STATIC_FILES.small.name}`;
  const scenarios: Scenario[] = [
    webOnly('static-1k', 'web tier: a 1 KiB static file', small, 'proxy', 'static'),
    webOnly('static-100k', 'web tier: a 100 KiB static file', `/${STATIC_FILES.large.name}`, 'proxy', 'static'),
    webWorkersRow('static-1k-web-w1', `web tier alone, WEB_WORKERS=1 (one process): the 1 KiB static file; ${UNPINNED}`, small, 1),
    webWorkersRow('static-1k-web-w2', `web tier alone, WEB_WORKERS=2 (a primary and 2 workers sharing the port, like nginx worker_processes 2): the 1 KiB static file; ${UNPINNED}`, small, 2),
    {
      name: 'direct-echo',
      description: 'app tier alone, 1 worker: /api/echo with no web tier in front',
      skipReason: always,
      start: async (ctx) => {
        const app = await startAppTier(ctx, 1, 'direct-echo');
        return running(`http://127.0.0.1:${app.port}/api/echo`, null, [app]);
      },
    },
  ];
  for (let workers = 1; workers <= maxWorkers; workers += 1) {
    scenarios.push(proxied(`proxy-echo-w${workers}`, `web tier → app tier with ${workers} worker${workers === 1 ? '' : 's'}: /api/echo through the proxy (plain engine)`, '/api/echo', workers));
  }
  scenarios.push(
    proxied('proxy-echo-w1-http-proxy', 'web tier → app tier with 1 worker: /api/echo through the proxy with WEB_PROXY_ENGINE=http-proxy (the http-proxy library instead of the plain engine)', '/api/echo', 1, { env: { WEB_PROXY_ENGINE: 'http-proxy' } }),
    webOnly('embedded-echo', 'web tier running the app in its own process: /api/echo', '/api/echo', 'embedded', 'embedded'),
    // The CGI gateway is off unless turned on (issue 12): these rows turn it on.
    webOnly('cgi-echo', 'web tier starting the app per request (CGI, WEB_CGI=on): /cgi-bin/app/api/echo', '/cgi-bin/app/api/echo', 'proxy', 'cgi', { env: { WEB_CGI: 'on' }, byCount: { factor: 1 } }),
    webOnly('cgi-shell', 'web tier starting a shell script per request (CGI, WEB_CGI=on): /cgi-bin/hello.sh', '/cgi-bin/hello.sh', 'proxy', 'cgi', { env: { WEB_CGI: 'on' }, byCount: { factor: 10 } }),
    proxied('articles-page', 'web tier → app tier, 1 worker: the SQLite-backed /articles/ HTML page', '/articles/', 1),
    // Issue 18: the chapter's ten-line app in each mode, and the Express example with and without the adapter.
    appModuleRow('hello-persistent', 'web tier → app tier, 1 worker running examples/hello (APP_MODULE): the smallest app, behind the proxy', HELLO_APP, 'persistent', '/api/'),
    appModuleRow('hello-embedded', 'web tier running examples/hello (APP_MODULE) in its own process', HELLO_APP, 'embedded', '/api/'),
    appModuleRow('hello-cgi', 'web tier starting examples/hello per request (CGI, WEB_CGI=on, APP_MODULE): the process start at its purest', HELLO_APP, 'cgi', '/api/'),
    expressRow('express-app-tier', 'app tier alone, 1 worker: examples/express through fromNodeHandler (APP_MODULE), GET /api/hello (JSON)', 'app-tier'),
    expressRow('express-own-server', 'the same Express app on its own http.createServer (bench/express-server.ts), no twotier: GET /api/hello', 'own'),
    expressRow('express-adapter-bare', 'the same APP_MODULE through the node adapter alone (toAppRequest → fromNodeHandler → writeAppResponse) on a bare http.createServer, without the worker\'s request id, logging, metrics, limits or cluster primary (bench/express-adapter-server.ts): GET /api/hello', 'bare'),
    sirvRow('sirv-static-1k', 'sirv (Node static server; ETag on, production mode): the same 1 KiB static file', small),
    nginxRow('nginx-static-1k', 'nginx, 1 worker: the same 1 KiB static file', small, false),
    nginxRow('nginx-static-100k', 'nginx, 1 worker: the same 100 KiB static file', `/${STATIC_FILES.large.name}`, false),
    nginxRow('nginx-proxy-echo', 'nginx, 1 worker, proxy_pass with keep-alive → app tier with 1 worker: /api/echo', '/api/echo', true),
    nginxRow('nginx-proxy-echo-edge', 'nginx as nginx-proxy-echo, also setting the edge headers the web tier sets (X-Forwarded-For/-Proto/-Host, Forwarded, X-Request-Id, Via): /api/echo', '/api/echo', true, true),
  );
  // Issue 15: the https rows, each beside its nginx reference with the same certificate.
  scenarios.push(...httpsScenarios());
  // Issue 16: WebSocket echo and idle rows beside nginx; opt-in (--compare websocket), the default run is unchanged.
  scenarios.push(...wsScenarios());
  return scenarios;
}

/** Keeps the named scenarios, in report order; an unknown name is an error that lists the known ones. */
export function selectScenarios(all: readonly Scenario[], names: readonly string[]): Scenario[] {
  if (names.length === 0) return all.filter((scenario) => scenario.optIn !== true);
  const known = all.map((scenario) => scenario.name);
  const unknown = names.filter((name) => !known.includes(name));
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')} (known: ${known.join(', ')})`);
  return all.filter((scenario) => names.includes(scenario.name));
}
