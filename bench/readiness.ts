/**
 * The app tier's primary starts listening as soon as its first worker does; the others may
 * still be booting. A wN row measured before all N workers serve would measure fewer, so the
 * bench waits until N distinct worker pids have answered the echo (it reports `worker.pid`).
 */
import { get } from 'node:http';

export interface WaitForWorkersOptions {
  readonly port: number;
  readonly workers: number;
  /** Bound on the whole wait. */
  readonly timeoutMs?: number;
  /** Pause between rounds, so the poll does not steal the core a booting worker needs. */
  readonly pauseMs?: number;
}

/**
 * One echo over a fresh connection: node:cluster hands out connections, not requests, so a
 * reused keep-alive socket (fetch pools them) would ask the same worker forever.
 */
function echoPid(port: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const request = get({ host: '127.0.0.1', port, path: '/api/echo', agent: false, timeout: 5_000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { worker?: { pid?: unknown } };
          resolve(typeof body.worker?.pid === 'number' ? body.worker.pid : null);
        } catch (error) {
          reject(error as Error);
        }
      });
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error('echo timed out')));
    request.on('error', reject);
  });
}

export async function waitForWorkers(options: WaitForWorkersOptions): Promise<number> {
  const seen = new Set<number>();
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  // Bounded in count as well as in time: at most 400 rounds of `workers` requests each.
  for (let round = 0; round < 400 && Date.now() < deadline; round += 1) {
    for (let request = 0; request < options.workers; request += 1) {
      const pid = await echoPid(options.port);
      if (pid !== null) seen.add(pid);
    }
    if (seen.size >= options.workers) return seen.size;
    await new Promise((resolve) => setTimeout(resolve, options.pauseMs ?? 50));
  }
  throw new Error(`only ${seen.size} of ${options.workers} app workers answered in time`);
}
