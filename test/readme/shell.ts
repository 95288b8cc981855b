/**
 * One bash, fed README's commands one after another like a reader's terminal: variables set by
 * one command are there for the next. Each command's stdout is read up to a sentinel line the
 * shell prints after it. stderr is kept apart (curl's progress meter goes there when stdout is not
 * a terminal; README shows what a terminal shows on stdout).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';

export interface Shell {
  run(command: string, timeoutMs: number): Promise<{ stdout: string; stderr: string; code: number }>;
  close(): void;
}

export function createShell(options: { cwd: string; env: NodeJS.ProcessEnv }): Shell {
  const child: ChildProcessWithoutNullStreams = spawn('bash', ['--norc', '--noprofile'], { cwd: options.cwd, env: options.env, stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  let waiter: (() => void) | undefined;
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    stdout += chunk;
    waiter?.();
  });
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  child.on('exit', () => waiter?.());
  return {
    run(command, timeoutMs) {
      const sentinel = `__readme_check_${randomUUID()}__`;
      stdout = '';
      stderr = '';
      // The sentinel goes on a line of its own even when the output does not end with a newline
      // (nc prints a body as it came); a newline we added is taken off again below.
      child.stdin.write(`${command}\nprintf '\\n${sentinel} %d\\n' "$?"\n`);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiter = undefined;
          reject(new Error(`no answer within ${timeoutMs} ms; output so far:\n${stdout}\n${stderr}`));
        }, timeoutMs);
        waiter = () => {
          const at = stdout.indexOf(`\n${sentinel} `);
          if (at === -1) {
            if (child.exitCode !== null) {
              clearTimeout(timer);
              reject(new Error(`the shell exited (${child.exitCode}); output:\n${stdout}\n${stderr}`));
            }
            return;
          }
          const end = stdout.indexOf('\n', at + 1 + sentinel.length);
          if (end === -1) return;
          clearTimeout(timer);
          waiter = undefined;
          const code = Number(stdout.slice(at + 1 + sentinel.length, end).trim());
          resolve({ stdout: stdout.slice(0, at), stderr, code });
        };
        waiter();
      });
    },
    close() {
      child.stdin.end();
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
