/**
 * The multi-box placement on separate network stacks, shared by the tests that need it
 * (test/e2e/multibox.test.ts, test/e2e/live-multibox.test.ts): a web box, two app boxes and a
 * Postgres box, each in its own network namespace on one bridge, addresses from 198.18.0.0/15
 * (the test process joins the bridge as the client machine). Every box runs
 * `npm start -- --config <placement> --only …` as a person would on that machine.
 */
import type { Test } from 'tap';
import { type ChildProcess, execFile } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { connectBoxes, createNetns, netnsSkipReason, uniqueTag, type Netns } from './netns.js';
import { postgresSkipReason } from './postgres.js';
import { ROOT } from './pm2.js';

const run = promisify(execFile);

export const START = join(ROOT, 'dist', 'deploy', 'start.mjs');

/** Why the multi-box tests cannot run here, or false when they can. */
export function multiboxSkipReason(): string | false {
  return netnsSkipReason() || postgresSkipReason() || (existsSync(START) ? false : 'dist/ is not built (npx tsc -p tsconfig.build.json)');
}

export const NET = { client: '198.18.0.1', web: '198.18.0.10', app1: '198.18.0.11', app2: '198.18.0.12', db: '198.18.0.20' } as const;

export interface Boxes {
  readonly tag: string;
  readonly web: Netns;
  readonly app1: Netns;
  readonly app2: Netns;
  readonly db: Netns;
}

/** Four namespaces on one bridge, the test process on it as the client; all removed in teardown. */
export async function createBoxes(t: Test): Promise<Boxes> {
  const tag = uniqueTag();
  const boxes = {
    tag,
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
  return boxes;
}

export interface Placement {
  /** The placement file (the shape of deploy/placements/multi-box.json, with this test's addresses). */
  readonly file: string;
  /** A temp folder for the boxes (HOME, pid files); removed in teardown. */
  readonly dir: string;
  /** The environment `npm start` gets on one box. */
  env(box: string): NodeJS.ProcessEnv;
}

export function writePlacement(t: Test, prefix: string): Placement {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'placement.json');
  writeFileSync(file, JSON.stringify({
    web: { host: NET.web, port: 8080, upstreams: [`http://${NET.app1}:3000`, `http://${NET.app2}:3000`], proxyHealthIntervalMs: 500 },
    app: { host: '0.0.0.0', port: 3000, workers: 2, databaseUrl: `postgres://postgres@${NET.db}:5432/twotier`, operatorAllow: [NET.web] },
  }));
  return { file, dir, env: (box) => ({ PATH: process.env['PATH'], HOME: dir, APP_PID_FILE: join(dir, `${box}.pid`), LOG_PRETTY: '0' }) };
}

export interface Launched {
  readonly child: ChildProcess;
  readonly up: Promise<Record<string, unknown>>;
  /** Every JSON line so far (for failure messages). */
  readonly lines: Array<Record<string, unknown>>;
  /** Resolves with the first line whose msg is `msg`. */
  seen(msg: string): Promise<Record<string, unknown>>;
  stderr(): string;
}

/** `npm start -- args` inside a box; resolves `up` with the launcher's "twotier is up" line. */
export function launch(t: Test, box: Netns, args: readonly string[], env: NodeJS.ProcessEnv): Launched {
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

export async function request(url: string, init: RequestInit = {}): Promise<{ status: number; ms: number; body: unknown }> {
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

/** The process ids running in a box now (namespaces share the host's pid space). */
export async function pidsIn(box: Netns): Promise<Set<number>> {
  const { stdout } = await run('ip', ['netns', 'pids', box.name], { timeout: 10_000 });
  return new Set(stdout.split('\n').filter((pid) => /^\d+$/.test(pid)).map(Number));
}
