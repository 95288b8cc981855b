/**
 * A tiny web tier for the operator tests: an http server on 127.0.0.1:0 that calls the metrics
 * hooks the way server.ts does, sends /-/ to the operator handler, /api/ through a small
 * forwarding stand-in to stub app-tier upstreams, and answers everything else itself as
 * "static". The stand-in (not web-tier/proxy) keeps these tests about the operator view: it
 * offers the same upstreamStates() the operator reads from the real proxy. Stub
 * upstreams answer /-/workers like the app tier. Everything is closed in t.teardown.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import parsePrometheusTextFormat, { type MetricFamily } from 'parse-prometheus-text-format';
import { createLogger } from '../../../common/logger.js';
import type { RequestContext, RequestHandler } from '../../../web-tier/context.js';
import { createOperatorHandler, type OperatorHandler, type OperatorOptions } from '../../../web-tier/operator/handler.js';
import { createWebMetrics, type WebMetrics } from '../../../web-tier/operator/metrics.js';
import type { UpstreamSource } from '../../../web-tier/operator/upstream-view.js';

export interface Teardown {
  teardown(fn: () => unknown): void;
}

export async function listen(t: Teardown, server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  }));
  const { port } = server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

/** An address nothing listens on: a server is bound, its port read, then closed. */
export async function refusedUrl(): Promise<string> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

export interface StubUpstream {
  readonly url: string;
  /** Requests it answered, /-/workers included. */
  readonly seen: string[];
}

/** An app-tier stand-in: /api/boom → 500, other /api/ → 200 JSON, /-/workers → two workers. */
export async function startStubUpstream(t: Teardown, workerPids: readonly number[] = [4101, 4102]): Promise<StubUpstream> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.url ?? '');
    if (req.url === '/-/workers') {
      const workers = workerPids.map((pid, index) => ({ pid, uptimeSeconds: 120 + index, requests: seen.length + index, rssBytes: (60 + index) * 1024 * 1024, ready: true }));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ workers, primaryPid: 4100, restarts: 1 }));
      return;
    }
    const status = (req.url ?? '').split('?')[0] === '/api/boom' ? 500 : 200;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: status === 200, path: req.url }));
  });
  const url = await listen(t, server);
  return { url, seen };
}

export interface StubProxy extends UpstreamSource, RequestHandler {}

/** Round-robin forwarding that records health and failures per upstream; a refused upstream → 502. */
export function createStubProxy(upstreams: readonly string[]): StubProxy {
  const states = upstreams.map((url) => ({ url, healthy: true, failures: 0, active: 0, latencyMsEwma: 0 }));
  let next = 0;
  return {
    upstreamStates: () => states.map((state) => ({ ...state })),
    handle(req, res, ctx) {
      ctx.servedBy = 'app';
      const state = states[next++ % states.length];
      if (state === undefined) throw new Error('no upstream');
      ctx.upstream = state.url;
      state.active += 1;
      const started = Date.now();
      const upstreamReq = request(new URL(req.url ?? '/', state.url), { method: req.method, agent: false, headers: { 'x-request-id': ctx.requestId } });
      upstreamReq.once('response', (upstreamRes) => {
        state.active -= 1;
        state.healthy = true;
        state.latencyMsEwma = state.latencyMsEwma * 0.8 + (Date.now() - started) * 0.2;
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      });
      upstreamReq.once('error', () => {
        state.active -= 1;
        state.failures += 1;
        state.healthy = false;
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end('bad gateway\n');
      });
      req.pipe(upstreamReq);
    },
    async close() {},
  };
}

export interface Harness {
  readonly url: string;
  readonly metrics: WebMetrics;
  readonly operator: OperatorHandler;
  readonly proxy: StubProxy | undefined;
  /** Request ids of the requests the harness answered, in order. */
  readonly requestIds: string[];
}

function countBytes(res: ServerResponse): () => number {
  let bytes = 0;
  const count = (chunk: unknown): void => {
    if (typeof chunk === 'string') bytes += Buffer.byteLength(chunk);
    else if (chunk instanceof Uint8Array) bytes += chunk.byteLength;
  };
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    count(chunk);
    return write(chunk, ...rest);
  }) as ServerResponse['write'];
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    if (typeof chunk !== 'function') count(chunk);
    return end(chunk, ...rest);
  }) as ServerResponse['end'];
  return () => bytes;
}

export async function startHarness(
  t: Teardown,
  options: { upstreams?: readonly string[]; proxy?: StubProxy; operator?: Partial<Omit<OperatorOptions, 'metrics' | 'logger' | 'proxy'>> } = {},
): Promise<Harness> {
  const logger = createLogger({ tier: 'web', level: 'silent' });
  const metrics = createWebMetrics();
  t.teardown(() => metrics.close());
  const upstreams = options.upstreams ?? [];
  const proxy = options.proxy ?? (upstreams.length === 0 ? undefined : createStubProxy(upstreams));
  const operator = createOperatorHandler({
    config: { dynamic: proxy === undefined ? 'embedded' : 'proxy', upstreams: proxy?.upstreamStates().map((state) => state.url) ?? [] },
    logger,
    metrics,
    ...(proxy === undefined ? {} : { proxy }),
    ...options.operator,
  });
  t.teardown(() => operator.close());
  const requestIds: string[] = [];

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const [pathname = '/', query] = (req.url ?? '/').split('?', 2);
    const ctx: RequestContext = {
      requestId: randomUUID(),
      startedAt: process.hrtime.bigint(),
      logger,
      pathname,
      search: query === undefined ? '' : `?${query}`,
      servedBy: 'web',
    };
    requestIds.push(ctx.requestId);
    res.setHeader('X-Request-Id', ctx.requestId);
    const bytes = countBytes(res);
    metrics.onRequestStart(ctx);
    res.once('close', () => metrics.onRequestEnd(ctx, res, bytes()));
    if (pathname.startsWith('/-/')) operator.handle(req, res, ctx);
    else if (pathname.startsWith('/api/') && proxy !== undefined) proxy.handle(req, res, ctx);
    else {
      ctx.servedBy = 'static';
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('static file\n');
    }
  });
  // Operator streams end in operator.close(), which teardown runs before the server closes (LIFO).
  const url = await listen(t, server);
  return { url, metrics, operator, proxy, requestIds };
}

/** One sample line of the text exposition format 0.0.4 (name, optional labels, value, optional timestamp). */
const SAMPLE_LINE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (?:NaN|[+-]?Inf|[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?: -?\d+)?$/;

/**
 * parse-prometheus-text-format accepts some malformed lines (a non-numeric value, for one), so
 * every line is also checked against the format's grammar before it is parsed.
 */
export function parseExposition(text: string): MetricFamily[] {
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ')) continue;
    if (line.startsWith('# TYPE ')) {
      if (!/^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (?:counter|gauge|histogram|summary|untyped)$/.test(line)) throw new Error(`bad TYPE line: ${line}`);
      continue;
    }
    if (!SAMPLE_LINE.test(line)) throw new Error(`not an exposition-format sample: ${line}`);
  }
  return parsePrometheusTextFormat(text);
}

export async function scrapeText(url: string): Promise<string> {
  const response = await fetch(`${url}/-/metrics`, { headers: { connection: 'close' } });
  if (response.status !== 200) throw new Error(`/-/metrics answered ${response.status}`);
  return response.text();
}

export async function scrape(url: string): Promise<MetricFamily[]> {
  return parseExposition(await scrapeText(url));
}

/** The sample of `name` whose labels include `labels`, as a number. */
export function sampleValue(families: readonly MetricFamily[], name: string, labels: Record<string, string> = {}): number | undefined {
  const family = families.find((candidate) => candidate.name === name);
  const sample = family?.metrics.find((metric) => Object.entries(labels).every(([key, value]) => metric.labels?.[key] === value));
  if (sample === undefined) return undefined;
  return Number(sample.value ?? sample.count);
}

/**
 * One labelled series of a histogram. parse-prometheus-text-format drops a histogram's labels,
 * keeps only its last series (yunyu/parse-prometheus-text-format#8, open since 2019) and loses
 * _sum/_count when they carry labels (#13), so the histogram's lines are narrowed to the wanted
 * series before parsing, and the count is read from the +Inf bucket (equal by definition).
 */
export function histogramSeries(text: string, name: string, labels: Record<string, string>): { count: number; buckets: Record<string, number> } | undefined {
  const pairs = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  const lines = text.split('\n').filter((line) => !line.startsWith(`${name}_`) || pairs.every((pair) => line.includes(pair)));
  const family = parseExposition(lines.join('\n')).find((candidate) => candidate.name === name);
  const sample = family?.metrics[0];
  if (sample?.buckets === undefined || !lines.some((line) => line.startsWith(`${name}_count`))) return undefined;
  const buckets = Object.fromEntries(Object.entries(sample.buckets).map(([le, value]) => [le, Number(value)]));
  return { count: buckets['+Inf'] ?? Number.NaN, buckets };
}
