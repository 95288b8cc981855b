/**
 * The app tier's primary starts listening as soon as its first worker does; the others may
 * still be booting. A wN row measured before all N workers serve would measure fewer, so the
 * bench waits until N distinct worker pids have answered the echo (it reports `worker.pid`).
 */
export interface WaitForWorkersOptions {
  readonly port: number;
  readonly workers: number;
  /** Bound on the whole wait. */
  readonly timeoutMs?: number;
  /** Pause between rounds, so the poll does not steal the core a booting worker needs. */
  readonly pauseMs?: number;
}

export async function waitForWorkers(options: WaitForWorkersOptions): Promise<number> {
  const seen = new Set<number>();
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  const url = `http://127.0.0.1:${options.port}/api/echo`;
  // Bounded in count as well as in time: at most 400 rounds of `workers` requests each.
  for (let round = 0; round < 400 && Date.now() < deadline; round += 1) {
    for (let request = 0; request < options.workers; request += 1) {
      const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      const body = (await response.json()) as { worker?: { pid?: unknown } };
      if (typeof body.worker?.pid === 'number') seen.add(body.worker.pid);
    }
    if (seen.size >= options.workers) return seen.size;
    await new Promise((resolve) => setTimeout(resolve, options.pauseMs ?? 50));
  }
  throw new Error(`only ${seen.size} of ${options.workers} app workers answered in time`);
}
