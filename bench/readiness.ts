/**
 * A clustered server starts listening as soon as its first worker does; the others may still
 * be booting. A row measured before all N workers serve would measure fewer, so the bench asks
 * over fresh connections until N distinct pids have answered: the app tier's echo reports
 * `worker.pid`, the web tier's /-/status.json reports `web.pid` (WEB_WORKERS=N: each worker its own).
 */
import { get } from 'node:http';

export interface WaitForWorkersOptions {
  readonly port: number;
  readonly workers: number;
  /** Bound on the whole wait. */
  readonly timeoutMs?: number;
  /** Pause between rounds, so the poll does not steal the core a booting worker needs. */
  readonly pauseMs?: number;
  /** What to ask; the app tier's /api/echo by default. */
  readonly path?: string;
  /** The answering process's pid in the JSON body, or null; `worker.pid` by default. */
  readonly pidOf?: (body: unknown) => number | null;
  /** Who is waited for, in the error message; "app workers" by default. */
  readonly what?: string;
}

function field(value: unknown, key: string): unknown {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
}

function integer(value: unknown): number | null {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : null;
}

/** The app tier's /api/echo: `{ worker: { pid } }`. */
export function appWorkerPid(body: unknown): number | null {
  return integer(field(field(body, 'worker'), 'pid'));
}

/** The web tier's /-/status.json (loopback peers only, which the bench is): `{ web: { pid } }`. */
export function webProcessPid(body: unknown): number | null {
  return integer(field(field(body, 'web'), 'pid'));
}

/**
 * One request over a fresh connection: node:cluster hands out connections, not requests, so a
 * reused keep-alive socket (fetch pools them) would ask the same worker forever.
 */
function askPid(port: number, path: string, pidOf: (body: unknown) => number | null): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const request = get({ host: '127.0.0.1', port, path, agent: false, timeout: 5_000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        try {
          resolve(pidOf(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
        } catch (error) {
          reject(error as Error);
        }
      });
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${path} timed out`)));
    request.on('error', reject);
  });
}

export async function waitForWorkers(options: WaitForWorkersOptions): Promise<number> {
  const path = options.path ?? '/api/echo';
  const pidOf = options.pidOf ?? appWorkerPid;
  const seen = new Set<number>();
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  // Bounded in count as well as in time: at most 400 rounds of `workers` requests each.
  for (let round = 0; round < 400 && Date.now() < deadline; round += 1) {
    for (let request = 0; request < options.workers; request += 1) {
      const pid = await askPid(options.port, path, pidOf);
      if (pid !== null) seen.add(pid);
    }
    if (seen.size >= options.workers) return seen.size;
    await new Promise((resolve) => setTimeout(resolve, options.pauseMs ?? 50));
  }
  throw new Error(`only ${seen.size} of ${options.workers} ${options.what ?? 'app workers'} answered in time`);
}
