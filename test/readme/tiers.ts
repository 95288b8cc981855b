/**
 * Starts a built entry point (node dist/…) the way README's start command does and waits for the
 * JSON line that says where it listens. Only node built-ins: this file must not load the tiers'
 * sources, so the README check runs whatever state the rest of the tree is in.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';

export type JsonLine = Record<string, unknown>;

export interface StartedTiers {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  waitForLine(match: (line: JsonLine) => boolean, timeoutMs: number): Promise<JsonLine>;
  stderr(): string;
  /** SIGINT (Ctrl-C, as README says), then SIGKILL to every pid a line named after `graceMs`. */
  stop(graceMs: number): Promise<void>;
}

/** The caller's environment without any tier setting, plus `extra`. */
export function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(APP_|WEB_|DATABASE_URL$|LOG_LEVEL$|LOG_PRETTY$|NODE_OPTIONS$|TAP)/.test(name)) env[name] = value;
  }
  return { ...env, ...extra };
}

export function startTiers(script: string, env: Record<string, string>): StartedTiers {
  if (!existsSync(script)) throw new Error(`${script} is missing: run \`npm run build\` first`);
  const child = spawn(process.execPath, [script], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: JsonLine[] = [];
  const listeners = new Set<() => void>();
  let stderr = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout! }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as JsonLine);
    } catch {
      lines.push({ raw: text });
    }
    for (const listener of listeners) listener();
  });
  const pids = (): number[] => {
    const found = new Set<number>();
    for (const line of lines) {
      if (typeof line['pid'] === 'number') found.add(line['pid']);
      for (const key of ['web', 'app']) {
        const pid = (line[key] as { pid?: unknown } | undefined)?.pid;
        if (typeof pid === 'number') found.add(pid);
      }
    }
    return [...found];
  };
  return {
    child,
    exited,
    stderr: () => stderr,
    waitForLine: (match, timeoutMs) =>
      new Promise((resolve, reject) => {
        const done = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off('exit', onExit);
        };
        const check = (): void => {
          const found = lines.find(match);
          if (found !== undefined) {
            done();
            resolve(found);
          }
        };
        const onExit = (): void => {
          done();
          reject(new Error(`the tiers exited before they were up; stderr:\n${stderr}`));
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`not up within ${timeoutMs} ms; stderr:\n${stderr}`));
        }, timeoutMs);
        listeners.add(check);
        child.once('exit', onExit);
        check();
      }),
    async stop(graceMs) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      for (const pid of pids()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone: the usual case after a clean stop.
        }
      }
    },
  };
}
