/**
 * `npm start`: the deployment in the foreground. Starts the app tier (clustered) and then the
 * web tier in front of it, as two child processes; prints where each listens; Ctrl-C /
 * SIGTERM stops both (web first, so nothing is forwarded to a closing app); if one dies the
 * other is stopped too and the launcher exits 1. If npm, which runs this, is gone (SIGTERM to
 * npm kills only its shell; SIGKILL), the tiers are stopped the same way; if this launcher is
 * SIGKILLed, each tier notices and stops by itself (common/parent-watch.ts).
 *
 * `--placement single-box|multi-box` or `--config FILE` picks a placement (deploy/placements/,
 * default single-box); each tier gets it as env (deploy/placement.cjs), under the caller's own
 * env. A multi-box placement runs one tier per box: `--only web` or `--only app`.
 *
 * stdout carries only JSON lines (the children's pino lines, whole, and the launcher's own),
 * so `npm start | jq` works; the banner goes to stderr. For a person (stdout a TTY, or
 * LOG_PRETTY=1) the lines are rendered readable with a tier label (deploy/log-lines.mts).
 *
 * Port 0 picks a free port: the launcher reads each child's real port from its "listening"
 * log line and hands the app's to the web tier as APP_UPSTREAMS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { prettyWanted } from '../common/logger.js';
import { LAUNCHER_ENV, launcherChain, watchLaunchers } from '../common/parent-watch.js';
import { formatBanner } from './banner.mjs';
import { createLineWriter, type LineWriter } from './log-lines.mjs';
import { checkTierConfigs, launchEnv } from './start-check.mjs';
import { parseStartArgs, type StartOptions } from './start-options.mjs';

const LEVELS: Readonly<Record<string, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;

interface Tier {
  readonly name: 'app' | 'web';
  readonly child: ChildProcess;
  /** Resolves with the port from the child's "listening" line. */
  readonly listening: Promise<{ address: string; port: number; workers?: number }>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const distDir = dirname(dirname(fileURLToPath(import.meta.url)));
const scripts = { app: join(distDir, 'app-tier', 'main.js'), web: join(distDir, 'web-tier', 'main.js') };
/** V8 flags per tier (deploy/node-flags.json, shared with pm2, Docker and the benchmark). */
const nodeFlags: Record<'app' | 'web', readonly string[]> = (() => {
  const parsed = JSON.parse(readFileSync(join(dirname(distDir), 'deploy', 'node-flags.json'), 'utf8')) as { web?: string[]; app?: string[] };
  return { app: parsed.app ?? [], web: parsed.web ?? [] };
})();

function say(message: string): void {
  process.stderr.write(`twotier: ${message}\n`);
}

let writeLine: LineWriter = (_tier, line) => process.stdout.write(`${line}\n`);

function emit(fields: Record<string, unknown>, msg: string): void {
  writeLine('start', JSON.stringify({ level: 30, time: Date.now(), service: 'start', pid: process.pid, ...fields, msg }));
}

/**
 * The children log at info at least, so their "listening" lines reach us; a stricter
 * LOG_LEVEL is applied here, to what is forwarded.
 */
const wanted = process.env['LOG_LEVEL'] ?? 'info';
const forwardLevel = LEVELS[wanted] ?? LEVELS['info'] ?? 30;
const childLevel = forwardLevel > 30 ? 'info' : wanted;

function startTier(name: 'app' | 'web', env: NodeJS.ProcessEnv): Tier {
  // Own process group: Ctrl-C at the terminal reaches only the launcher, which then stops
  // the web tier before the app tier (otherwise both get SIGINT at once and the web tier
  // may forward to an app that is already draining). The 'exit' hook below still kills them.
  // LOG_PRETTY=0: the children write JSON to us whatever the caller asked; we render.
  // TWOTIER_LAUNCHER_PID: the tier stops by itself if this launcher dies without stopping it
  // (SIGKILL runs no handler; common/parent-watch.ts).
  const child = spawn(process.execPath, [...nodeFlags[name], scripts[name]], {
    env: { ...env, LOG_LEVEL: childLevel, LOG_PRETTY: '0', [LAUNCHER_ENV]: String(process.pid) },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const listening = new Promise<{ address: string; port: number; workers?: number }>((resolve, reject) => {
    exited.then(({ code, signal }) => reject(new Error(`the ${name} tier exited before listening (${signal ?? `code ${code}`})`)), () => undefined);
    // Whole lines only: two children writing at once never produce a torn JSON line.
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let parsed: Record<string, unknown> | undefined;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        parsed = undefined;
      }
      if (parsed?.['msg'] === 'listening' && typeof parsed['port'] === 'number') {
        const workers = Array.isArray(parsed['workers']) ? parsed['workers'].length : undefined;
        resolve({ address: String(parsed['address'] ?? ''), port: parsed['port'], ...(workers === undefined ? {} : { workers }) });
      }
      const level = typeof parsed?.['level'] === 'number' ? parsed['level'] : Infinity;
      if (level >= forwardLevel || parsed === undefined) writeLine(name, line);
    });
  });
  createInterface({ input: child.stderr! }).on('line', (line) => process.stderr.write(`${line}\n`));
  return { name, child, listening, exited };
}

function running(tier: Tier | undefined): tier is Tier {
  return tier !== undefined && tier.child.exitCode === null && tier.child.signalCode === null;
}

async function stopTier(tier: Tier | undefined): Promise<void> {
  if (!running(tier)) return;
  tier.child.kill('SIGTERM');
  const timer = setTimeout(() => {
    say(`the ${tier.name} tier did not stop within ${STOP_TIMEOUT_MS / 1000} s; killing it`);
    tier.child.kill('SIGKILL');
  }, STOP_TIMEOUT_MS);
  const exit = await tier.exited;
  clearTimeout(timer);
  emit({ stopped: tier.name, code: exit.code, signal: exit.signal }, 'tier stopped');
}

function urlOf(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

async function main(): Promise<void> {
  // Recorded first: npm (and its shell) that die while we start must still be noticed.
  const launchers = launcherChain(process.env, process.ppid);
  // Nobody reading our stdout any more (`npm start | jq` and jq gone) must not crash the
  // launcher: it still has to stop the tiers. Lines are dropped instead.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
  });
  let options: StartOptions;
  try {
    options = parseStartArgs(process.argv.slice(2), process.env);
  } catch (error) {
    say((error as Error).message);
    process.exit(1);
  }
  writeLine = await createLineWriter({
    pretty: prettyWanted(process.env['LOG_PRETTY'], process.stdout.isTTY),
    colors: process.stdout.isTTY === true,
    write: (text) => process.stdout.write(text),
  });
  for (const name of options.tiers) {
    if (!existsSync(scripts[name])) {
      say(`${scripts[name]} is missing (the ${name} tier is not built); run "npm run build" first`);
      process.exit(1);
    }
  }
  // Both tiers' config, checked before either starts: a bad web setting must not leave an app
  // tier started (and its database migrated) for nothing.
  const invalid = checkTierConfigs(options, launchEnv(options, childLevel), process.env);
  if (invalid !== undefined) {
    say(invalid);
    process.exit(1);
  }
  const appHost = options.env.app['APP_HOST'] ?? '127.0.0.1';
  const webHost = options.env.web['WEB_HOST'] ?? '127.0.0.1';
  const tiers: { app?: Tier; web?: Tier } = {};
  let stopping = false;

  const stopAll = async (exitCode: number): Promise<never> => {
    stopping = true;
    await stopTier(tiers.web);
    await stopTier(tiers.app);
    process.exit(exitCode);
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    say(`${signal}: stopping ${options.tiers.length === 2 ? 'the web tier, then the app tier' : `the ${options.tiers[0]} tier`}`);
    void stopAll(0);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  // npm forwards SIGTERM only to the shell that runs this script, which dies of it and leaves us
  // orphaned; a SIGKILLed npm tells nobody. Either way: stop the tiers, in order.
  watchLaunchers({
    chain: launchers,
    onGone: (pid) => {
      if (stopping) return;
      say(`${launchers.launcher} (pid ${pid}) is gone: stopping ${options.tiers.length === 2 ? 'the web tier, then the app tier' : `the ${options.tiers[0]} tier`}`);
      void stopAll(0);
    },
  });
  // Last resort on any exit path: never leave a child behind.
  process.on('exit', () => {
    for (const tier of [tiers.web, tiers.app]) if (running(tier)) tier.child.kill('SIGKILL');
  });

  const watch = (tier: Tier): void => {
    void tier.exited.then(({ code, signal }) => {
      if (stopping) return;
      const other = tier.name === 'app' ? 'web' : 'app';
      say(`the ${tier.name} tier exited (${signal ?? `code ${code}`})${options.tiers.length === 2 ? `; stopping the ${other} tier` : ''}`);
      void stopAll(1);
    });
  };

  const timeout = setTimeout(() => {
    say(`the tiers did not report listening within ${START_TIMEOUT_MS / 1000} s`);
    void stopAll(1);
  }, START_TIMEOUT_MS);
  try {
    let upstreams = String(options.env.web['APP_UPSTREAMS'] ?? '').split(',').filter((url) => url !== '');
    let app: { port: number; workers?: number } | undefined;
    let appUrl: string | undefined;
    if (options.tiers.includes('app')) {
      tiers.app = startTier('app', { ...options.env.app, APP_HOST: appHost, APP_PORT: options.env.app['APP_PORT'] ?? '3000' });
      watch(tiers.app);
      app = await tiers.app.listening;
      // A wildcard bind is reached over loopback on this box.
      const reachable = appHost === '0.0.0.0' || appHost === '::' ? '127.0.0.1' : appHost;
      appUrl = urlOf(reachable, app.port);
      upstreams = [appUrl];
    }
    let webUrl: string | undefined;
    let web: { port: number } | undefined;
    if (options.tiers.includes('web')) {
      tiers.web = startTier('web', { ...options.env.web, WEB_HOST: webHost, WEB_PORT: options.env.web['WEB_PORT'] ?? '8080', APP_UPSTREAMS: upstreams.join(',') });
      watch(tiers.web);
      web = await tiers.web.listening;
      // A wildcard bind is browsed over loopback on this box.
      webUrl = urlOf(webHost === '0.0.0.0' || webHost === '::' ? '127.0.0.1' : webHost, web.port);
    }
    clearTimeout(timeout);
    emit({
      placement: options.placementName,
      ...(web === undefined ? {} : { web: { url: webUrl, port: web.port, pid: tiers.web?.child.pid, upstreams } }),
      ...(app === undefined ? {} : { app: { url: appUrl, port: app.port, pid: tiers.app?.child.pid, workers: app.workers } }),
    }, 'twotier is up');
    if (webUrl !== undefined && appUrl !== undefined) say(`web tier on ${webUrl} → app tier on ${appUrl} (Ctrl-C stops both)`);
    process.stderr.write(`${formatBanner({ placement: options.placementName, webUrl, appUrl, upstreams, workers: app?.workers, databaseUrl: options.env.app['DATABASE_URL'] ?? (options.tiers.includes('app') ? 'sqlite:./data/twotier.db' : undefined) })}\n`);
  } catch (error) {
    clearTimeout(timeout);
    if (stopping) return;
    say((error as Error).message);
    await stopAll(1);
  }
}

void main();
