/**
 * Asks each app-tier upstream who its workers are (`GET /-/workers`, the app tier's pm2-monit
 * style JSON) for the status page. Each answer is cached briefly and concurrent askers share one
 * request, so an open status page costs each upstream one small request every `cacheMs`, however
 * many browsers watch it. A slow or absent endpoint costs at most `timeoutMs` and shows as an error.
 * The request's Host is the upstream URL's authority: the app tier answers it when that is an
 * IP address or a loopback name, and a name only when the app box lists it in APP_OPERATOR_HOSTS
 * (DNS rebinding, common/operator-host.ts); a 421 says so on the status page.
 */
import { request } from 'node:http';

export interface AppWorker {
  pid: number;
  uptimeSeconds?: number;
  requests?: number;
  rssBytes?: number;
  ready?: boolean;
}

export type WorkersReport =
  /** scope "worker": one instance answered for itself (pm2 cluster mode), not the whole cluster. */
  | { ok: true; primaryPid?: number; restarts?: number; scope?: 'cluster' | 'worker'; workers: AppWorker[] }
  | { ok: false; error: string };

export interface WorkerFetcher {
  workersOf(upstreamUrl: string): Promise<WorkersReport>;
  /** Aborts requests in flight; later calls answer an error at once. */
  close(): void;
}

export interface WorkerFetcherOptions {
  timeoutMs?: number;
  cacheMs?: number;
  now?: () => number;
}

const MAX_BODY_BYTES = 256 * 1024;

function finiteNumber(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** Keeps the fields the page knows; anything else the app tier adds is ignored, anything malformed dropped. */
export function parseWorkersBody(body: unknown): WorkersReport {
  if (typeof body !== 'object' || body === null || !Array.isArray((body as { workers?: unknown }).workers)) {
    return { ok: false, error: 'answer has no workers list' };
  }
  const record = body as { workers: unknown[]; primaryPid?: unknown; restarts?: unknown; scope?: unknown };
  const workers: AppWorker[] = [];
  for (const item of record.workers) {
    if (typeof item !== 'object' || item === null) continue;
    const fields = item as Record<string, unknown>;
    const pid = finiteNumber(fields['pid']);
    if (pid === undefined) continue;
    const worker: AppWorker = { pid };
    const uptime = finiteNumber(fields['uptimeSeconds']);
    if (uptime !== undefined) worker.uptimeSeconds = uptime;
    const requests = finiteNumber(fields['requests']);
    if (requests !== undefined) worker.requests = requests;
    const rss = finiteNumber(fields['rssBytes']);
    if (rss !== undefined) worker.rssBytes = rss;
    if (typeof fields['ready'] === 'boolean') worker.ready = fields['ready'];
    workers.push(worker);
  }
  const report: WorkersReport = { ok: true, workers };
  const primaryPid = finiteNumber(record.primaryPid);
  if (primaryPid !== undefined) report.primaryPid = primaryPid;
  const restarts = finiteNumber(record.restarts);
  if (restarts !== undefined) report.restarts = restarts;
  if (record.scope === 'cluster' || record.scope === 'worker') report.scope = record.scope;
  return report;
}

/** The upstream's base path is kept, as the proxy keeps it for every forwarded request. */
export function workersUrl(upstreamUrl: string): URL {
  const base = new URL(upstreamUrl);
  base.pathname = `${base.pathname.replace(/\/+$/, '')}/-/workers`;
  return base;
}

function fetchJson(url: URL, timeoutMs: number, signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve, reject) => {
    // agent: false and Connection: close: no idle socket outlives the answer or holds up shutdown.
    const req = request(url, { method: 'GET', agent: false, headers: { accept: 'application/json', connection: 'close' }, signal });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.once('close', () => clearTimeout(timer));
    req.once('error', reject);
    req.once('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(res.statusCode === 421
          ? `HTTP 421: the app tier does not answer Host ${url.hostname}; list it in the app box's APP_OPERATOR_HOSTS`
          : `HTTP ${res.statusCode ?? 0}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) req.destroy(new Error('answer too large'));
        else chunks.push(chunk);
      });
      res.once('error', reject);
      res.once('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch {
          reject(new Error('answer is not JSON'));
        }
      });
    });
    req.end();
  });
}

export function createWorkerFetcher(options: WorkerFetcherOptions = {}): WorkerFetcher {
  const timeoutMs = options.timeoutMs ?? 500;
  const cacheMs = options.cacheMs ?? 2_000;
  const now = options.now ?? Date.now;
  const controller = new AbortController();
  const cache = new Map<string, { at: number; report: Promise<WorkersReport> }>();

  return {
    workersOf(upstreamUrl) {
      if (controller.signal.aborted) return Promise.resolve({ ok: false, error: 'closed' });
      const cached = cache.get(upstreamUrl);
      if (cached !== undefined && now() - cached.at < cacheMs) return cached.report;
      let url: URL;
      try {
        url = workersUrl(upstreamUrl);
      } catch {
        return Promise.resolve({ ok: false, error: 'not a URL' });
      }
      const report = fetchJson(url, timeoutMs, controller.signal).then(
        (body) => parseWorkersBody(body),
        (error: unknown) => ({ ok: false as const, error: error instanceof Error ? error.message : String(error) }),
      );
      cache.set(upstreamUrl, { at: now(), report });
      return report;
    },
    close() {
      controller.abort();
      cache.clear();
    },
  };
}
