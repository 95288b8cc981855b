/**
 * The rows of the benchmark. Each scenario starts its own servers (logging silent, port 0),
 * names the URL to load, and stops them afterwards; the runner knows nothing about tiers.
 * nginx rows slot in beside the twotier rows they are compared with (issue 8).
 */
import { join } from 'node:path';
import { distPath } from './environment.js';
import { launchServer, type LaunchedServer } from './launcher.js';
import { startNginx } from './nginx.js';
import { waitForWorkers } from './readiness.js';

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
}

export interface RunningScenario {
  readonly url: string;
  /** The X-Served-By the answer must carry, so a row measures the path its name says; null: unchecked. */
  readonly servedBy: string | null;
  /** Every process the scenario started; the sampler adds their descendants. */
  readonly pids: readonly number[];
  close(): Promise<void>;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
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

/** Resolves once all `workers` workers serve, so a wN row never measures fewer. */
export async function startAppTier(ctx: ScenarioContext, workers: number, dbName: string): Promise<LaunchedServer> {
  const app = await launchServer({
    name: `app tier (${workers} worker${workers === 1 ? '' : 's'})`,
    command: process.execPath,
    args: [distPath('app-tier', 'main.js')],
    env: { ...ctx.serverEnv, APP_HOST: '127.0.0.1', APP_PORT: '0', APP_WORKERS: String(workers), DATABASE_URL: databaseUrl(ctx, dbName) },
    cwd: ctx.root,
    cpuList: ctx.serverCpus,
  });
  try {
    await waitForWorkers({ port: app.port, workers });
  } catch (error) {
    await app.close();
    throw error;
  }
  return app;
}

export function startWebTier(ctx: ScenarioContext, dynamic: 'proxy' | 'embedded' | 'cgi', upstream: string, dbName: string): Promise<LaunchedServer> {
  return launchServer({
    name: `web tier (${dynamic})`,
    command: process.execPath,
    args: [distPath('web-tier', 'main.js')],
    env: {
      ...ctx.serverEnv,
      WEB_HOST: '127.0.0.1',
      WEB_PORT: '0',
      WEB_ROOT: ctx.webRoot,
      APP_UPSTREAMS: upstream,
      WEB_DYNAMIC: dynamic,
      WEB_CGI_MAX_PROCESSES: String(Math.max(16, ctx.concurrency + 1)),
      DATABASE_URL: databaseUrl(ctx, dbName),
    },
    cwd: ctx.root,
    cpuList: ctx.serverCpus,
  });
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

function webOnly(name: string, description: string, path: string, dynamic: 'proxy' | 'embedded' | 'cgi', servedBy: string): Scenario {
  return {
    name,
    description,
    skipReason: always,
    start: async (ctx) => {
      const web = await startWebTier(ctx, dynamic, NO_UPSTREAM, name);
      return running(`http://127.0.0.1:${web.port}${path}`, servedBy, [web]);
    },
  };
}

function proxied(name: string, description: string, path: string, workers: number): Scenario {
  return {
    name,
    description,
    skipReason: always,
    start: async (ctx) => {
      const servers = await chain(startAppTier(ctx, workers, name), (app) => startWebTier(ctx, 'proxy', `http://127.0.0.1:${app.port}`, name));
      return running(`http://127.0.0.1:${(servers[0] as LaunchedServer).port}${path}`, 'app', servers);
    },
  };
}

function nginxRow(name: string, description: string, path: string, withApp: boolean): Scenario {
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
        startNginx({ nginxPath, workDir: join(ctx.workDir, name), webRoot: ctx.webRoot, upstreamPort: app.port, cpuList: ctx.serverCpus, env: ctx.serverEnv }));
      return running(`http://127.0.0.1:${(servers[0] as LaunchedServer).port}${path}`, null, servers);
    },
  };
}

/** Every scenario, in report order; proxy-echo-w1 … wN for N = maxWorkers. */
export function buildScenarios(maxWorkers: number): Scenario[] {
  const scenarios: Scenario[] = [
    webOnly('static-1k', 'web tier: a 1 KiB static file', `/${STATIC_FILES.small.name}`, 'proxy', 'static'),
    webOnly('static-100k', 'web tier: a 100 KiB static file', `/${STATIC_FILES.large.name}`, 'proxy', 'static'),
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
    scenarios.push(proxied(`proxy-echo-w${workers}`, `web tier → app tier with ${workers} worker${workers === 1 ? '' : 's'}: /api/echo through http-proxy`, '/api/echo', workers));
  }
  scenarios.push(
    webOnly('embedded-echo', 'web tier running the app in its own process: /api/echo', '/api/echo', 'embedded', 'embedded'),
    webOnly('cgi-echo', 'web tier starting the app per request (CGI): /cgi-bin/app/api/echo', '/cgi-bin/app/api/echo', 'proxy', 'cgi'),
    webOnly('cgi-shell', 'web tier starting a shell script per request (CGI): /cgi-bin/hello.sh', '/cgi-bin/hello.sh', 'proxy', 'cgi'),
    proxied('articles-page', 'web tier → app tier, 1 worker: the SQLite-backed /articles/ HTML page', '/articles/', 1),
    nginxRow('nginx-static-1k', 'nginx, 1 worker: the same 1 KiB static file', `/${STATIC_FILES.small.name}`, false),
    nginxRow('nginx-static-100k', 'nginx, 1 worker: the same 100 KiB static file', `/${STATIC_FILES.large.name}`, false),
    nginxRow('nginx-proxy-echo', 'nginx, 1 worker, proxy_pass with keep-alive → app tier with 1 worker: /api/echo', '/api/echo', true),
  );
  return scenarios;
}

/** Keeps the named scenarios, in report order; an unknown name is an error that lists the known ones. */
export function selectScenarios(all: readonly Scenario[], names: readonly string[]): Scenario[] {
  if (names.length === 0) return [...all];
  const known = all.map((scenario) => scenario.name);
  const unknown = names.filter((name) => !known.includes(name));
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')} (known: ${known.join(', ')})`);
  return all.filter((scenario) => names.includes(scenario.name));
}
