/**
 * APP_MAX_REQUESTS under steady load (issue 18): with 2 workers and no jitter, round-robin brings
 * both to the limit at about the same moment. A worker that drained itself on reaching it took
 * both off the shared socket at once (node:cluster closes it when no worker listens:
 * lib/internal/cluster/round_robin_handle.js remove()), and new connections were refused until a
 * replacement listened. Now a worker at its limit asks the primary, which replaces one worker at a
 * time (the new one listens before the old one drains): no request fails, and the primary never
 * has fewer than 2 listening workers.
 */
import t from 'tap';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { send, startAppTier, type LogLine } from '../helpers/app-tier.js';

t.setTimeout(240_000);

const LIFECYCLE = join(fileURLToPath(new URL('../fixtures/app-modules/', import.meta.url)), 'lifecycle.mjs');

/** Concurrent clients, each sending one request at a time on a fresh connection. */
const CLIENTS = 4;
/** Bounds the run: stop after this many requests, or once enough replacements finished. */
const MAX_TOTAL = 20_000;
const WANTED_REPLACEMENTS = 3;
const MAX_REQUESTS = 25;

t.test('workers at APP_MAX_REQUESTS are replaced one at a time: no failed request under load', async (t) => {
  const app = await startAppTier(t, { workers: 2, env: { APP_MODULE: LIFECYCLE, APP_MAX_REQUESTS: String(MAX_REQUESTS), APP_MAX_REQUESTS_JITTER: '0' }, readyTimeoutMs: 60_000 });
  const isReached = (line: LogLine): boolean => line.msg === 'max requests reached: draining for a fresh worker';
  // A worker retired for its requests exits 0 after draining; count those exits by the pids that reached the limit.
  const retiredExits = (): number => {
    const reached = new Set(app.lines.filter(isReached).map((line) => line.pid));
    return app.lines.filter((line) => line.msg === 'shutting down' && reached.has(line.pid)).length;
  };
  const failures: string[] = [];
  const pids = new Set<number>();
  let sent = 0;
  const deadline = Date.now() + 120_000;
  async function client(): Promise<void> {
    while (sent < MAX_TOTAL && retiredExits() < WANTED_REPLACEMENTS && Date.now() < deadline && failures.length < 20) {
      sent += 1;
      try {
        const reply = await send(`${app.url}/api/count`);
        if (reply.status === 200) pids.add(reply.json<{ pid: number }>().pid);
        else failures.push(`status ${reply.status}`);
      } catch (error) {
        failures.push((error as NodeJS.ErrnoException).code ?? (error as Error).message);
      }
    }
  }
  await Promise.all(Array.from({ length: CLIENTS }, client));
  t.same(failures, [], `every one of ${sent} requests answered 200`);
  t.ok(retiredExits() >= WANTED_REPLACEMENTS, `at least ${WANTED_REPLACEMENTS} workers retired for their requests (${retiredExits()})`);
  t.ok(pids.size > 2, `more workers than APP_WORKERS answered over time (${pids.size})`);
  // The primary logs each replacement; capacity never dropped: the new one listened first.
  const replaced = app.lines.filter((line) => line.msg === 'worker replaced');
  t.ok(replaced.length >= 1, 'the primary logged the replacements');
  for (const line of replaced) t.ok((line['listening'] as number) >= 2, `at least 2 workers listened when worker ${String(line['oldPid'])} was asked to drain`);
});
