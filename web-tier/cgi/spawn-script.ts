/**
 * Starts one CGI process and owns its lifetime: its own process group (so every process the
 * script starts can be killed together), a hard deadline, stderr into the log, and a `closed`
 * promise that settles only when the script and everything holding its output are gone.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { Logger } from '../../common/logger.js';

export interface ScriptExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (ENOENT, EACCES, ENOEXEC…). */
  readonly spawnError: Error | undefined;
}

export interface ScriptRun {
  readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  /** SIGKILL to the whole process group: the script and its children. Safe to call repeatedly. */
  killGroup(): void;
  /** Resolves once the script exited and its stdout/stderr closed (so no grandchild holds them). */
  readonly closed: Promise<ScriptExit>;
  /** Aborted when the deadline passed and the group was killed. */
  readonly deadline: AbortSignal;
}

export interface SpawnScriptOptions {
  readonly scriptPath: string;
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  /** The request's logger: stderr lines are logged with its request id. */
  readonly logger: Logger;
  /** stderr logged per run at most; the rest is counted, not logged (a chatty script cannot flood the log). */
  readonly maxStderrBytes: number;
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    // A negative pid addresses the process group; detached: true made the child its leader.
    process.kill(-pid, 'SIGKILL');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

export function spawnScript(options: SpawnScriptOptions): ScriptRun {
  const startedAt = process.hrtime.bigint();
  const child = spawn(options.scriptPath, [], {
    cwd: options.cwd,
    env: options.env,
    // Own process group: a timeout or an aborted request kills `-pid`, grandchildren included.
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  const deadline = new AbortController();
  let spawnError: Error | undefined;

  const timer = setTimeout(() => {
    killGroup(pid);
    deadline.abort();
  }, options.timeoutMs);

  let stderrLogged = 0;
  let stderrDropped = 0;
  let partial = '';
  const logStderr = (text: string): void => {
    if (text === '') return;
    if (stderrLogged >= options.maxStderrBytes) {
      stderrDropped += Buffer.byteLength(text);
      return;
    }
    stderrLogged += Buffer.byteLength(text);
    options.logger.warn({ pid, stderr: text }, 'cgi script stderr');
  };
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    if (partial.length > 4096) {
      lines.push(partial);
      partial = '';
    }
    for (const line of lines) logStderr(line.replace(/\r$/, ''));
  });

  const closed = new Promise<ScriptExit>((resolve) => {
    child.once('error', (error) => {
      spawnError = error;
      // A child that never started emits no 'close' on every Node version: settle here too.
      if (child.pid === undefined) finish(null, null);
    });
    child.once('close', (code, signal) => finish(code, signal));
    let settled = false;
    function finish(code: number | null, signal: NodeJS.Signals | null): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      logStderr(partial.replace(/\r$/, ''));
      // Whatever the script left running in its group (a daemonised helper with its stdio closed)
      // does not outlive the request: the concurrency cap counts processes, and these escaped it.
      killGroup(pid);
      const ms = Number(process.hrtime.bigint() - startedAt) / 1e6;
      options.logger.debug({ pid, code, signal, ms, stderrDropped, timedOut: deadline.signal.aborted }, 'cgi script finished');
      resolve({ code, signal, spawnError });
    }
  });
  // EPIPE when the script exits without reading its body: normal for CGI (RFC 3875 §4.2 does not oblige it to read).
  child.stdin.on('error', () => undefined);

  return {
    child,
    killGroup: () => killGroup(pid),
    closed,
    deadline: deadline.signal,
  };
}
