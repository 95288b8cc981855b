/**
 * Starts one server process for a scenario (app tier, web tier, nginx), finds the port it
 * bound (from its JSON start-up line, or from /proc when it logs nothing), and stops it (and
 * everything it started) afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { pinnedCommand } from './environment.js';
import { listeningPorts } from './listen-ports.js';

export interface LaunchedServer {
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  /** SIGTERM, then SIGKILL for the whole process group when it does not exit in time. Idempotent. */
  close(): Promise<void>;
}

export interface LaunchOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  /** taskset CPU list, or null for no pinning. */
  readonly cpuList: string | null;
  /** When the port is known in advance (nginx cannot report it): skip the start-up line. */
  readonly knownPort?: number;
  /** Resolves once a server with a known port accepts work. */
  readonly waitReady?: () => Promise<void>;
  readonly readyTimeoutMs?: number;
  readonly stopTimeoutMs?: number;
}

/**
 * The tiers log one JSON line when they listen. Accepts `port`, `address.port` or a `url`
 * with a port, so a change of field name in a start-up line does not break the benchmark.
 */
export function findPortInLine(line: string): number | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (value === null || typeof value !== 'object') return null;
  const record = value as Record<string, unknown>;
  const candidates: unknown[] = [record['port']];
  const address = record['address'];
  if (address !== null && typeof address === 'object') candidates.push((address as Record<string, unknown>)['port']);
  for (const key of ['url', 'address', 'listening']) {
    const text = record[key];
    if (typeof text === 'string') {
      const match = /:(\d{1,5})(?:\/|$)/.exec(text);
      if (match !== null) candidates.push(Number(match[1]));
    }
  }
  for (const candidate of candidates) {
    if (typeof candidate === 'number' && Number.isInteger(candidate) && candidate > 0 && candidate < 65536) return candidate;
  }
  return null;
}

/**
 * A minimal environment built from the caller's: the servers must not inherit its LOG_LEVEL,
 * APP_TOKEN, DATABASE_URL … (a measured run is silent and uses its own scratch databases).
 */
export function baseEnv(from: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const env: Record<string, string> = { PATH: from['PATH'] ?? '/usr/bin:/bin', LOG_LEVEL: 'silent', NODE_ENV: 'production' };
  if (from['HOME'] !== undefined) env['HOME'] = from['HOME'];
  return env;
}

function tail(lines: string[], line: string, keep = 20): void {
  lines.push(line);
  if (lines.length > keep) lines.shift();
}

/** The lines that say what went wrong (an Error line, a config complaint), not a stack frame. */
export function summariseStderr(lines: readonly string[]): string {
  const telling = lines.filter((line) => /error|invalid|must be|cannot|not found|EADDRINUSE|ENOENT/i.test(line) && !/^\s+at /.test(line));
  return (telling.length > 0 ? telling.slice(0, 3) : lines.slice(-3)).map((line) => line.trim()).join('\n');
}

async function stop(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    // detached: the child leads its own process group, so this reaches workers and CGI children too.
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }, timeoutMs);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

export async function launchServer(options: LaunchOptions): Promise<LaunchedServer> {
  const { command, args } = pinnedCommand(options.cpuList, options.command, options.args);
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const stderrTail: string[] = [];
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => tail(stderrTail, line));
  const stdout = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const stopTimeoutMs = options.stopTimeoutMs ?? 5000;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= stop(child, stopTimeoutMs));

  const port = await new Promise<number>((resolve, reject) => {
    const timeoutMs = options.readyTimeoutMs ?? 20_000;
    const fail = (message: string): void => {
      cleanup();
      const detail = stderrTail.length > 0 ? `\n${summariseStderr(stderrTail)}` : '';
      void close().finally(() => reject(new Error(`${options.name}: ${message}${detail}`)));
    };
    const timer = setTimeout(() => fail(`not ready within ${timeoutMs} ms`), timeoutMs);
    const onExit = (code: number | null, signal: string | null): void => fail(`exited before it was ready (code ${code}, signal ${signal})`);
    const onError = (error: Error): void => fail(`cannot start ${command}: ${error.message}`);
    const onLine = (line: string): void => {
      const found = findPortInLine(line);
      if (found !== null) {
        cleanup();
        resolve(found);
      }
    };
    // At LOG_LEVEL=silent the start-up line may never come: look at the kernel's socket table
    // as well, every 50 ms, bounded by the ready timeout above.
    const poll = setInterval(() => {
      const ports = listeningPorts([child.pid as number]);
      if (ports.length > 0) {
        cleanup();
        resolve(ports[0] as number);
      }
    }, 50);
    const cleanup = (): void => {
      clearTimeout(timer);
      clearInterval(poll);
      child.off('exit', onExit);
      child.off('error', onError);
      stdout.off('line', onLine);
    };
    child.once('exit', onExit);
    child.once('error', onError);
    if (options.knownPort === undefined) {
      stdout.on('line', onLine);
      return;
    }
    clearInterval(poll);
    const knownPort = options.knownPort;
    (options.waitReady ?? (async () => undefined))().then(() => {
      cleanup();
      resolve(knownPort);
    }, (error: unknown) => fail(`not ready: ${(error as Error).message}`));
  });
  // Keep draining stdout so a chatty server never blocks on a full pipe.
  stdout.on('line', () => undefined);
  return { name: options.name, pid: child.pid as number, port, close };
}
