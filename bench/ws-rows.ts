/**
 * Issue 16's WebSocket rows, opt-in (`npm run bench -- --compare websocket`):
 * - echo round trips per second through the web tier (its upgrade path splices the two sockets
 *   and never parses a frame), through nginx proxying the same upstream (`proxy_http_version 1.1`
 *   and the `Upgrade`/`Connection` headers), and against the upstream alone (the hop's cost);
 * - K idle connections held through the web tier and through nginx: the front server's RSS
 *   growth per connection, read from /proc (process-sampler.ts).
 * The upstream is the bench's own ws echo (ws-echo-server.ts), so only the hop differs.
 */
import { join } from 'node:path';
import WebSocket from 'ws';
import { distPath } from './environment.js';
import { launchServer, type LaunchedServer } from './launcher.js';
import { startNginx } from './nginx.js';
import { createProcessSampler, sampleTree, type SamplerSummary } from './process-sampler.js';
import type { Progress } from './progress.js';
import type { BenchFlags, Pinning, ScenarioResult } from './result-schema.js';
import type { RunningScenario, Scenario, ScenarioContext } from './scenarios.js';
import { startWebTier, waitForWebWorkers } from './scenarios.js';
import { descriptorsNeeded, kibPerConnection, openFileLimit, startWsLoad, WS_PING, type WsEchoSummary } from './ws-load.js';

/** The path every row asks for: the app's live feed path, which the web tier proxies as a dynamic prefix. */
export const WS_PATH = '/api/live';
/** Handshakes in flight at once while the idle rows open their connections. */
const IDLE_HANDSHAKES_AT_ONCE = 64;
/** Time for the front server to settle after the last handshake before its RSS is read. */
const SETTLE_MS = 1_000;

/**
 * The web tier's own bounds on upgraded connections would cap or close the rows' connections:
 * the per-peer caps (every bench connection comes from 127.0.0.1), the total cap (10,000 by
 * default, the idle row's own size) and the idle timeout (nginx gets proxy_read_timeout 1h).
 */
export const WEB_WS_BENCH_ENV: Readonly<Record<string, string>> = {
  WEB_PEER_MAX_CONNECTIONS: '0',
  WEB_WS_MAX_CONNECTIONS: '0',
  WEB_WS_MAX_PER_PEER: '0',
  WEB_WS_IDLE_TIMEOUT_MS: '0',
};

function startEcho(ctx: ScenarioContext): Promise<LaunchedServer> {
  return launchServer({ name: 'ws echo', command: process.execPath, args: [distPath('bench', 'ws-echo-server.js')], env: ctx.serverEnv, cwd: ctx.root, cpuList: ctx.serverCpus });
}

async function withEcho(ctx: ScenarioContext, front: ((echo: LaunchedServer) => Promise<LaunchedServer>) | null): Promise<RunningScenario> {
  const echo = await startEcho(ctx);
  let proxy: LaunchedServer | null = null;
  try {
    proxy = front === null ? null : await front(echo);
  } catch (error) {
    await echo.close();
    throw error;
  }
  const servers = proxy === null ? [echo] : [proxy, echo];
  const entry = servers[0] as LaunchedServer;
  return {
    url: `ws://127.0.0.1:${entry.port}${WS_PATH}`,
    servedBy: null,
    pids: servers.map((server) => server.pid),
    frontPid: entry.pid,
    close: async () => {
      // Front first, so the proxy never sees its upstream vanish under live connections.
      for (const server of servers) await server.close();
    },
  };
}

type Front = 'web' | 'nginx' | 'direct';

function frontOf(ctx: ScenarioContext, front: Front, name: string, workers: number): ((echo: LaunchedServer) => Promise<LaunchedServer>) | null {
  if (front === 'direct') return null;
  if (front === 'web') {
    return async (echo) => {
      if (workers === 1) return startWebTier(ctx, 'proxy', `http://127.0.0.1:${echo.port}`, name, { env: WEB_WS_BENCH_ENV });
      const web = await startWebTier(ctx, 'proxy', `http://127.0.0.1:${echo.port}`, name, { env: { ...WEB_WS_BENCH_ENV, WEB_WORKERS: String(workers) } });
      // Every worker up before the baseline RSS is read and the connections are spread.
      await waitForWebWorkers(web, workers);
      return web;
    };
  }
  return (echo) => startNginx({
    nginxPath: ctx.nginxPath as string, workDir: join(ctx.workDir, name), webRoot: ctx.webRoot, upstreamPort: echo.port,
    websocket: { connections: ctx.wsIdleConnections ?? 10_000 }, workers, cpuList: ctx.serverCpus, env: ctx.serverEnv,
  });
}

function wsRow(name: string, description: string, front: Front, load: 'ws-echo' | 'ws-idle', workers = 1): Scenario {
  return {
    name,
    description,
    load,
    optIn: true,
    ...(workers === 1 ? {} : { frontWorkers: workers }),
    skipReason: (ctx) => (front === 'nginx' && ctx.nginxPath === null ? 'nginx is not on PATH' : null),
    start: (ctx) => withEcho(ctx, frontOf(ctx, front, name, workers)),
  };
}

/** The WebSocket rows, twotier first, each beside its nginx reference. */
export function wsScenarios(): Scenario[] {
  return [
    wsRow('ws-echo', 'web tier → ws echo upstream: WebSocket echo round trips (a message sent when the previous answer arrives) through the spliced upgrade', 'web', 'ws-echo'),
    wsRow('nginx-ws-echo', 'nginx, 1 worker, proxy_http_version 1.1 + Upgrade/Connection → the same ws echo upstream: echo round trips', 'nginx', 'ws-echo'),
    wsRow('ws-echo-direct', 'the ws echo upstream alone, no proxy: echo round trips (what the hop costs)', 'direct', 'ws-echo'),
    wsRow('ws-idle', 'web tier → ws echo upstream: idle WebSocket connections held open; the web tier\'s RSS growth per connection', 'web', 'ws-idle'),
    wsRow('nginx-ws-idle', 'nginx, 1 worker → the same upstream: idle WebSocket connections held open; nginx\'s RSS growth per connection', 'nginx', 'ws-idle'),
    // Two descriptors per proxied connection: one process cannot hold 10,000 under a 20,000 open-file
    // limit that cannot be raised (no CAP_SYS_RESOURCE here); two workers each hold half, as nginx's do.
    wsRow('ws-idle-w2', 'web tier with WEB_WORKERS=2 → ws echo upstream: idle WebSocket connections held open, half per worker; RSS growth of the primary and both workers per connection', 'web', 'ws-idle', 2),
    wsRow('nginx-ws-idle-w2', 'nginx, 2 workers → the same upstream: idle WebSocket connections held open; RSS growth of master and workers per connection', 'nginx', 'ws-idle', 2),
  ];
}

/** One message there and back before the load: a wrong path or a refused upgrade fails the row here. */
function checkEcho(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 15_000 });
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error(`no echo from ${url} within 15 s`));
    }, 15_000);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      socket.terminate();
      reject(error);
    };
    socket.once('unexpected-response', (_req, res) => fail(new Error(`GET ${WS_PATH} (Upgrade: websocket) answered ${res.statusCode ?? '?'} instead of 101`)));
    socket.once('error', fail);
    socket.once('open', () => socket.send(WS_PING));
    socket.once('message', (data: Buffer) => {
      clearTimeout(timer);
      socket.close();
      if (data.toString() === WS_PING) resolve();
      else reject(new Error(`the echo answered ${JSON.stringify(data.toString().slice(0, 80))} to ${WS_PING}`));
    });
  });
}

export interface WsMeasureOptions {
  readonly flags: BenchFlags;
  readonly pinning: Pinning;
  readonly progress: Progress;
  readonly signal?: AbortSignal;
}

const ZERO_LATENCY = { p50: 0, p90: 0, p99: 0, max: 0 };

/** Runs one WebSocket row's load (run.ts hands over rows with `load` set) and builds its result row. */
export async function measureWs(scenario: Scenario, started: RunningScenario, options: WsMeasureOptions): Promise<ScenarioResult> {
  const { flags, progress } = options;
  progress.phase('checking one echo');
  await checkEcho(started.url);
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  if (scenario.load === 'ws-echo') {
    let sampler: ReturnType<typeof createProcessSampler> | undefined;
    progress.phase(flags.warmupSec > 0 ? `warming up ${flags.warmupSec} s` : 'starting load');
    const child = startWsLoad({
      request: { mode: 'echo', url: started.url, connections: flags.connections, warmupSec: flags.warmupSec, durationSec: flags.durationSec },
      cpuList: options.pinning.loadGenerator,
      limitMs: (flags.warmupSec + flags.durationSec) * 1000 + 40_000,
      onMeasuring: () => {
        sampler = createProcessSampler({ rootPids: started.pids });
        progress.phase('measuring');
      },
      onTick: (rate) => progress.tick(rate),
      ...signal,
    });
    let summary: WsEchoSummary | undefined;
    let usage: SamplerSummary;
    try {
      summary = await child.done;
    } finally {
      // Sampled before the servers stop, so the last sample still sees the whole tree.
      usage = sampler?.stop() ?? createProcessSampler({ rootPids: started.pids }).stop();
    }
    if (summary === undefined || summary.roundTrips === 0) throw new Error(`completed 0 round trips in ${flags.durationSec} s`);
    return {
      name: scenario.name, description: scenario.description, status: 'ok', url: started.url,
      rps: summary.roundTrips / summary.seconds, requests: summary.roundTrips, latencyMs: summary.latencyMs,
      errors: summary.errors, non2xx: 0, bytesPerSec: summary.bytesPerSec,
      peakRssMiB: Number(usage.peakRssMiB.toFixed(1)), cpuSeconds: usage.cpuSeconds, peakProcesses: usage.peakProcesses,
    };
  }
  // Idle: the front server's RSS before and after K connections opened through it.
  const requested = flags.wsIdleConnections ?? 10_000;
  const limit = openFileLimit();
  // Each front process holds its share (the cluster hands connections round-robin, SCHED_RR).
  const needed = descriptorsNeeded(Math.ceil(requested / (scenario.frontWorkers ?? 1)));
  if (!scenario.name.startsWith('nginx-') && limit !== null && limit < needed) {
    // nginx raises its own (worker_rlimit_nofile, as root); node starts with the shell's limit.
    throw new Error(`${requested} idle connections need ${needed} open files in the proxy, the limit is ${limit}: run \`ulimit -n ${needed}\` (or higher) in the bench's shell first, or pass --ws-idle ${Math.max(1, Math.floor((limit - 256) / 2))}`);
  }
  const front = started.frontPid ?? (started.pids[0] as number);
  const baselineRssKiB = sampleTree([front]).rssKiB;
  const sampler = createProcessSampler({ rootPids: started.pids });
  progress.phase(`opening ${requested} idle connections`);
  const child = startWsLoad({
    request: { mode: 'idle', url: started.url, connections: requested, concurrency: IDLE_HANDSHAKES_AT_ONCE },
    cpuList: options.pinning.loadGenerator,
    limitMs: 300_000,
    ...signal,
  });
  let opened;
  let loadedRssKiB: number;
  try {
    opened = await child.opened;
    progress.phase(`holding ${opened.held} idle connections`);
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    loadedRssKiB = sampleTree([front]).rssKiB;
  } finally {
    child.release();
    await child.done.catch(() => undefined);
  }
  const usage = sampler.stop();
  if (opened.held === 0) throw new Error(`held 0 of ${requested} connections: ${opened.firstError ?? 'no error reported'}`);
  const perConnection = kibPerConnection(baselineRssKiB, loadedRssKiB, opened.held) as number;
  return {
    name: scenario.name,
    description: `${scenario.description}${opened.failed > 0 ? ` (${opened.failed} of ${requested} handshakes failed: ${opened.firstError ?? '?'})` : ''}`,
    status: 'ok', url: started.url, rps: 0, requests: opened.held, latencyMs: ZERO_LATENCY, errors: opened.failed, non2xx: 0, bytesPerSec: 0,
    peakRssMiB: Number(usage.peakRssMiB.toFixed(1)), cpuSeconds: usage.cpuSeconds, peakProcesses: usage.peakProcesses,
    idle: { requested, held: opened.held, failed: opened.failed, baselineRssKiB, loadedRssKiB, kibPerConnection: perConnection },
  };
}
