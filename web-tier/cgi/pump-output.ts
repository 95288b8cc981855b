/**
 * Turns one running script's stdout into the HTTP response: header section parsed per RFC 3875
 * §6, then the body streamed with backpressure. Settles with a local redirect for the handler to
 * follow, with nothing once the response is done (or the client left), or rejects with the
 * TwotierError the client should see (502 bad output, 504 timeout).
 */
import type { ServerResponse } from 'node:http';
import { TwotierError } from '../../common/errors.js';
import type { RequestContext } from '../context.js';
import { CgiHeadParser, type CgiDocument, type LocalRedirect } from './output-parser.js';
import type { ScriptRun } from './spawn-script.js';

/** A header section larger than this is not a header section (nginx's fastcgi_buffer_size is 4-8 KiB). */
export const MAX_HEAD_BYTES = 64 * 1024;

export interface PumpOptions {
  readonly run: ScriptRun;
  readonly res: ServerResponse;
  readonly ctx: RequestContext;
  readonly method: string;
  readonly body: Buffer | undefined;
}

function badOutput(error: unknown): TwotierError {
  return new TwotierError('WEB_ERR_UPSTREAM_BAD_RESPONSE', 'CGI script output is not a valid CGI response', { cause: error });
}

function writeHead(res: ServerResponse, ctx: RequestContext, head: CgiDocument): void {
  const fields = new Map<string, { name: string; values: string[] }>();
  for (const [name, value] of head.headers) {
    const lower = name.toLowerCase();
    if (lower === 'x-request-id') continue;
    const entry = fields.get(lower);
    if (entry === undefined) fields.set(lower, { name, values: [value] });
    else entry.values.push(value);
  }
  try {
    for (const { name, values } of fields.values()) res.setHeader(name, values.length === 1 ? (values[0] ?? '') : values);
    res.setHeader('X-Request-Id', ctx.requestId);
    if (head.reason === undefined) res.writeHead(head.status);
    else res.writeHead(head.status, head.reason);
  } catch (error) {
    // Node refused a field or the reason phrase: the 502 that follows must not carry the
    // script's other fields (a Set-Cookie on an error page).
    for (const { name } of fields.values()) res.removeHeader(name);
    // writeHead keeps a rejected reason phrase and would reuse it for the error page.
    res.statusMessage = '';
    throw error;
  }
}

/** Whether the response to this request can carry body bytes at all (RFC 9110 §6.4.1). */
function carriesBody(method: string, status: number): boolean {
  return method !== 'HEAD' && status !== 204 && status !== 304;
}

export function pumpOutput(options: PumpOptions): Promise<LocalRedirect | undefined> {
  const { run, res, ctx } = options;
  const { stdout, stdin } = run.child;
  const parser = new CgiHeadParser(MAX_HEAD_BYTES);

  return new Promise((resolve, reject) => {
    let head: CgiDocument | undefined;
    let redirect: LocalRedirect | undefined;
    let sent = 0;
    let settled = false;

    const settle = (error: TwotierError | undefined, value?: LocalRedirect): void => {
      if (settled) return;
      settled = true;
      res.off('close', onClientClose);
      if (error !== undefined) {
        run.killGroup();
        stdout.destroy();
        reject(error);
      } else {
        resolve(value);
      }
    };

    function onClientClose(): void {
      if (res.writableFinished) return;
      // The client disconnected: the script's work is wasted and holds a process slot. Kill it.
      ctx.logger.info({ pid: run.child.pid }, 'client went away, cgi script killed');
      run.killGroup();
      stdout.destroy();
      settle(undefined);
    }
    res.on('close', onClientClose);

    run.deadline.addEventListener('abort', () => {
      ctx.logger.warn({ pid: run.child.pid }, 'cgi script timed out, process group killed');
      settle(new TwotierError('WEB_ERR_UPSTREAM_TIMEOUT', 'CGI script exceeded its time limit'));
    }, { once: true });

    const writeBody = (chunk: Buffer): void => {
      if (head === undefined || chunk.length === 0) return;
      let piece = chunk;
      if (head.contentLength !== undefined) {
        const room = head.contentLength - sent;
        // More bytes than the script declared would be read as the start of the next response.
        if (piece.length > room) piece = piece.subarray(0, Math.max(room, 0));
      }
      sent += piece.length;
      if (piece.length > 0 && !res.write(piece)) {
        stdout.pause();
        res.once('drain', () => stdout.resume());
      }
    };

    stdout.on('data', (chunk: Buffer) => {
      if (settled || redirect !== undefined) return;
      if (head !== undefined) {
        writeBody(chunk);
        return;
      }
      try {
        const progress = parser.push(chunk);
        if (progress === undefined) return;
        if (progress.head.kind === 'local-redirect') {
          // RFC 3875 §6.2.2: no body may follow; whatever does is drained and dropped.
          redirect = progress.head;
          return;
        }
        head = progress.head;
        writeHead(res, ctx, head);
        writeBody(progress.rest);
      } catch (error) {
        ctx.logger.warn({ err: error, pid: run.child.pid }, 'cgi script output rejected');
        settle(badOutput(error));
      }
    });

    stdout.once('end', () => {
      if (settled) return;
      if (redirect !== undefined) {
        // Follow only once this process is gone, so the redirect's own run fits under the cap.
        void run.closed.then(() => settle(undefined, redirect));
        return;
      }
      if (head === undefined) {
        try {
          parser.end();
        } catch (error) {
          void run.closed.then((exit) => {
            ctx.logger.warn({ err: error, pid: run.child.pid, code: exit.code, signal: exit.signal, spawnError: exit.spawnError?.message }, 'cgi script gave no response');
            settle(badOutput(error));
          });
        }
        return;
      }
      if (carriesBody(options.method, head.status) && head.contentLength !== undefined && sent < head.contentLength) {
        // Fewer bytes than declared: the client must see a cut response, not wait forever.
        ctx.logger.warn({ pid: run.child.pid, declared: head.contentLength, sent }, 'cgi script body shorter than its Content-Length');
        res.destroy();
        settle(undefined);
        return;
      }
      res.end();
      settle(undefined);
    });

    void run.closed.then((exit) => {
      // A script that never started emits no stdout 'end' on every Node version.
      if (exit.spawnError !== undefined && head === undefined) {
        ctx.logger.error({ err: exit.spawnError }, 'cgi script could not be started');
        settle(badOutput(exit.spawnError));
      }
    });

    if (options.body === undefined) stdin.end();
    else stdin.end(options.body);
  });
}
