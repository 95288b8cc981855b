/**
 * A spawned child's output as lines a test can await: stdout (and stderr too, for a program that
 * logs there) parsed as JSON where a line is a JSON object, kept as text under `textKey` where
 * not. A wait is bounded and fails as soon as the child exits without the line.
 */
import type { ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { createInterface } from 'node:readline';

export type JsonLine = Record<string, unknown>;

export interface FollowOptions {
  /** Where a line that is not a JSON object is kept: `{ raw: text }` by default. */
  readonly textKey?: string;
  /** Read stderr as lines too (Pebble logs there); otherwise it is kept as text for failure messages. */
  readonly stderrLines?: boolean;
  /** waitForLine's bound when a call names none. */
  readonly waitMs?: number;
  /** Names the child in failure messages (a test that runs several). */
  readonly name?: string;
}

export interface FollowedChild {
  readonly child: ChildProcess;
  /** Every line so far, parsed. */
  readonly lines: JsonLine[];
  /** stderr as text (empty with `stderrLines`). */
  stderr(): string;
  /** The last lines and the end of stderr, for a failure message. */
  tail(): string;
  /** The first line (already in, or still to come) that matches; `index` is its place in `lines`. */
  waitForLine(match: (line: JsonLine, index: number) => boolean, timeoutMs?: number): Promise<JsonLine>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function followChild(child: ChildProcess, options: FollowOptions = {}): FollowedChild {
  const textKey = options.textKey ?? 'raw';
  const lines: JsonLine[] = [];
  let stderr = '';
  const events = new EventEmitter();
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  const onLine = (text: string): void => {
    let line: JsonLine = { [textKey]: text };
    try {
      const parsed = JSON.parse(text) as unknown;
      if (typeof parsed === 'object' && parsed !== null) line = parsed as JsonLine;
    } catch {
      // Not JSON: kept as text.
    }
    lines.push(line);
    events.emit('line');
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  if (options.stderrLines === true) createInterface({ input: child.stderr! }).on('line', onLine);
  else child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lastLines = (): string => lines.slice(-12).map((line) => JSON.stringify(line)).join('\n');
  const tail = (): string => `${lastLines()}${stderr === '' ? '' : `\nstderr: ${stderr.slice(-2000)}`}`;
  const failure = (what: string): Error => new Error(`${options.name === undefined ? '' : `${options.name}: `}${what}; last lines:\n${lastLines()}\nstderr: ${stderr}`);

  const waitForLine = (match: (line: JsonLine, index: number) => boolean, timeoutMs = options.waitMs ?? 20_000): Promise<JsonLine> =>
    new Promise((resolve, reject) => {
      let settled = false;
      const settle = (outcome: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        events.off('line', check);
        outcome();
      };
      function check(): void {
        const found = lines.find(match);
        if (found !== undefined) settle(() => resolve(found));
      }
      const timer = setTimeout(() => settle(() => reject(failure(`no matching line within ${timeoutMs} ms`))), timeoutMs);
      events.on('line', check);
      void exited.then(() => {
        // The last lines may still be in readline: look once more before giving up.
        setImmediate(() => {
          check();
          settle(() => reject(failure('exited before the expected line')));
        });
      });
      check();
    });
  return { child, lines, stderr: () => stderr, tail, waitForLine, exited };
}
