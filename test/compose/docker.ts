/**
 * What the compose and swarm tests share: the docker CLI, container health and the echo's replica
 * addresses (their steady load through the published port is test/helpers/autocannon.ts). Polling
 * docker is the only way to learn a container's health (no event says "healthy" to a client);
 * every poll is bounded.
 */
import { execFile } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { fetchOnce } from '../helpers/load.js';

export const run = promisify(execFile);

export async function docker(args: readonly string[], timeoutMs = 60_000): Promise<string> {
  return (await run('docker', args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 })).stdout;
}

export const lines = (text: string): string[] => text.split('\n').map((line) => line.trim()).filter((line) => line !== '');

/** "healthy" only for a running container whose last check passed; else its state (exited, starting, unhealthy …). */
export async function healthOf(id: string): Promise<string> {
  // An exited container keeps its last health status: the state comes first.
  const [state, health] = (await docker(['inspect', '-f', '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}', id]).catch(() => 'gone')).trim().split(' ');
  return state === 'running' ? (health ?? 'running') || 'running' : (state ?? 'gone');
}

/** Waits until `list()` gives exactly `count` containers, all healthy; bounded. */
export async function waitHealthy(name: string, list: () => Promise<string[]>, count: number, timeoutMs = 240_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const ids = await list();
    const states = await Promise.all(ids.map((id) => healthOf(id)));
    last = states.join(',');
    if (ids.length === count && states.every((state) => state === 'healthy')) return ids;
    await delay(1_000);
  }
  throw new Error(`${name}: not ${count} healthy container(s) within ${timeoutMs} ms (last: ${last})`);
}

/** HostConfig.Memory of a container: the memory limit docker applied, bytes (0: none). */
export async function memoryLimitOf(id: string): Promise<number> {
  return Number((await docker(['inspect', '-f', '{{.HostConfig.Memory}}', id])).trim());
}

export interface Echo {
  worker: { address: string; pid: number };
}

/** The app replicas' addresses the web tier spreads `samples` GET /api/echo over (failed GETs are skipped). */
export async function echoAddresses(base: string, samples: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < samples; i += 1) {
    const answer = await fetchOnce(`${base}/api/echo`).catch(() => undefined);
    if (answer?.status === 200) seen.add((JSON.parse(answer.body) as Echo).worker.address);
  }
  return seen;
}

/** Polls the echo until exactly `count` distinct addresses answer `count * 12` requests in a row (and `accept` them); bounded. */
export async function waitForAddresses(base: string, count: number, timeoutMs = 60_000, accept: (seen: Set<string>) => boolean = () => true): Promise<Set<string>> {
  const deadline = Date.now() + timeoutMs;
  let seen = new Set<string>();
  while (Date.now() < deadline) {
    seen = await echoAddresses(base, count * 12);
    if (seen.size === count && accept(seen)) return seen;
    await delay(500);
  }
  return seen;
}
