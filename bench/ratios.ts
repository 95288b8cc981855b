/**
 * The comparisons the benchmark exists for, as ratios of rows measured in the same run
 * (machines here are shared and noisy: absolute figures drift, side-by-side ratios hold).
 */
import type { BenchResult, ScenarioResult } from './result-schema.js';

export type RatioMetric = 'rps' | 'peakRssMiB' | 'cpuMsPerRequest' | 'kibPerConnection';

export interface Ratio {
  readonly label: string;
  readonly numerator: string;
  readonly denominator: string;
  readonly metric: RatioMetric;
  /** null when a side is missing, skipped, failed or zero. */
  readonly value: number | null;
  readonly meaning: string;
  /** The issue 8 target: the ratio should be at least this; absent when the ratio has none. */
  readonly target?: number;
  /** The target is a ceiling (value ≤ target): bytes per connection (issue 16). */
  readonly atMost?: boolean;
  /** With `--rounds`: the ratio within each round (null where a side failed); `value` is their median. */
  readonly rounds?: readonly (number | null)[];
}

/** Does the ratio reach its target (≥ a floor, ≤ a ceiling)? undefined without a target or a value. */
export function targetMet(ratio: Pick<Ratio, 'value' | 'target' | 'atMost'>): boolean | undefined {
  if (ratio.target === undefined || ratio.value === null) return undefined;
  return ratio.atMost === true ? ratio.value <= ratio.target : ratio.value >= ratio.target;
}

/** CPU milliseconds the servers spent per answered request; null without requests. */
export function cpuMsPerRequest(row: ScenarioResult): number | null {
  return row.requests > 0 ? (row.cpuSeconds * 1000) / row.requests : null;
}

function metricOf(row: ScenarioResult | undefined, metric: RatioMetric): number | null {
  if (row === undefined || row.status !== 'ok') return null;
  if (metric === 'cpuMsPerRequest') return cpuMsPerRequest(row);
  if (metric === 'kibPerConnection') return row.idle === undefined || row.idle.held === 0 ? null : row.idle.kibPerConnection;
  return row[metric];
}

interface RatioSpec {
  readonly label: string;
  readonly numerator: string;
  readonly denominator: string;
  readonly metric: RatioMetric;
  readonly meaning: string;
  /** The issue 8 target (value ≥ target), carried into the computed Ratio. */
  readonly target?: number;
  readonly atMost?: boolean;
}

/** A twotier row against its nginx reference, which the bench names `nginx-<row>`: requests per second unless `more` says. */
function againstNginx(what: string, row: string, meaning: string, more: Partial<Pick<RatioSpec, 'metric' | 'target' | 'atMost'>> = {}): RatioSpec {
  return { label: `twotier ÷ nginx, ${what}`, numerator: row, denominator: `nginx-${row}`, metric: 'rps', meaning, ...more };
}

function specs(names: readonly string[]): RatioSpec[] {
  const list: RatioSpec[] = [
    { label: 'persistent workers ÷ CGI', numerator: 'proxy-echo-w1', denominator: 'cgi-echo', metric: 'rps', meaning: 'throughput won by keeping one app worker alive instead of starting the app per request' },
    { label: 'CGI ÷ persistent, CPU per request', numerator: 'cgi-echo', denominator: 'proxy-echo-w1', metric: 'cpuMsPerRequest', meaning: 'the process start cost: CPU time each CGI request burns next to a warm worker' },
    { label: 'CGI ÷ persistent, peak memory', numerator: 'cgi-echo', denominator: 'proxy-echo-w1', metric: 'peakRssMiB', meaning: 'memory of the live CGI processes under load next to web tier + one worker' },
    { label: 'shell CGI ÷ app CGI', numerator: 'cgi-shell', denominator: 'cgi-echo', metric: 'rps', meaning: 'how much of the CGI cost is starting Node and the app rather than any process' },
    { label: 'embedded ÷ proxied', numerator: 'embedded-echo', denominator: 'proxy-echo-w1', metric: 'rps', meaning: 'the app inside the web tier against one worker behind the proxy' },
    { label: 'proxy hop', numerator: 'proxy-echo-w1', denominator: 'direct-echo', metric: 'rps', meaning: 'share of direct throughput left after the web tier hop (1 = free)' },
    { label: 'database page ÷ echo', numerator: 'articles-page', denominator: 'proxy-echo-w1', metric: 'rps', meaning: 'a rendered, SQLite-backed page against the bare echo, both through the proxy' },
    { label: 'hello: persistent ÷ CGI', numerator: 'hello-persistent', denominator: 'hello-cgi', metric: 'rps', meaning: 'the ten-line app (examples/hello): one warm worker against a process per request, where the app itself costs nothing' },
    { label: 'hello: CGI ÷ persistent, CPU per request', numerator: 'hello-cgi', denominator: 'hello-persistent', metric: 'cpuMsPerRequest', meaning: 'the process start cost alone: CPU each CGI request of the ten-line app burns next to a warm worker' },
    { label: 'hello: embedded ÷ persistent', numerator: 'hello-embedded', denominator: 'hello-persistent', metric: 'rps', meaning: 'the ten-line app inside the web tier against one worker behind the proxy' },
    { label: 'Express: fromNodeHandler ÷ own server', numerator: 'express-app-tier', denominator: 'express-own-server', metric: 'rps', meaning: 'examples/express in an app tier worker (fromNodeHandler) against the same app on its own http.createServer (issue 18 target: ≥ 0.9×)', target: 0.9 },
    { label: 'Express: own server ÷ fromNodeHandler, CPU per request', numerator: 'express-own-server', denominator: 'express-app-tier', metric: 'cpuMsPerRequest', meaning: 'the same comparison by server CPU per request (the figure a shared machine does not blur): 1 = the app tier costs what the own server costs' },
    { label: 'Express: adapter alone ÷ own server', numerator: 'express-adapter-bare', denominator: 'express-own-server', metric: 'rps', meaning: 'the node adapter (toAppRequest → fromNodeHandler → writeAppResponse) on a bare http.createServer, without the worker: which part of the gap is the adapter\'s' },
    { label: 'plain ÷ http-proxy engine', numerator: 'proxy-echo-w1', denominator: 'proxy-echo-w1-http-proxy', metric: 'rps', meaning: 'the web tier\'s plain proxy engine (node\'s http.request) against WEB_PROXY_ENGINE=http-proxy, same app worker behind' },
  ];
  const workerRows = names
    .map((name) => /^proxy-echo-w(\d+)$/.exec(name))
    .filter((match): match is RegExpExecArray => match !== null && Number(match[1]) > 1);
  for (const match of workerRows) {
    list.push({ label: `scaling w${match[1]} ÷ w1`, numerator: match[0], denominator: 'proxy-echo-w1', metric: 'rps', meaning: `throughput with ${match[1]} app workers against 1 (bounded by the cores left to the servers)` });
  }
  list.push(
    { label: 'web tier w2 ÷ w1, static 1 KiB', numerator: 'static-1k-web-w2', denominator: 'static-1k-web-w1', metric: 'rps', meaning: 'WEB_WORKERS=2 against 1 on the same file, servers unpinned: bounded by the cores, shared with the load generator on a small machine' },
    { label: 'twotier ÷ sirv, static 1 KiB', numerator: 'static-1k', denominator: 'sirv-static-1k', metric: 'rps', meaning: 'the web tier against sirv, a plain Node static server, on the same file (issue 8 target: ≥ 3×)', target: 3 },
    againstNginx('static 1 KiB', 'static-1k', 'the web tier against nginx with one worker on the same file', { target: 0.6 }),
    againstNginx('static 100 KiB', 'static-100k', 'the web tier against nginx with one worker on the same 100 KiB file', { target: 0.5 }),
    { label: 'twotier ÷ nginx, proxy', numerator: 'proxy-echo-w1', denominator: 'nginx-proxy-echo', metric: 'rps', meaning: 'the web tier\'s proxy against nginx proxy_pass to the same app worker', target: 1 },
    { label: 'twotier ÷ nginx, proxy, same edge headers', numerator: 'proxy-echo-w1', denominator: 'nginx-proxy-echo-edge', metric: 'rps', meaning: 'the same, with nginx also setting the X-Forwarded-*, Forwarded, X-Request-Id and Via headers the web tier sets (like for like)', target: 1 },
    // Issue 15: https beside nginx with the same certificate (bench/https-rows.ts).
    againstNginx('https static 1 KiB', 'https-static-1k', 'the web tier (WEB_TLS=files) against nginx with the same certificate and ssl_session_cache, keep-alive (issue 15 target: ≥ 0.6×)', { target: 0.6 }),
    againstNginx('https proxy', 'https-proxy-echo', 'the proxied echo over TLS at the edge, against nginx proxy_pass behind the same certificate'),
    againstNginx('full TLS handshakes', 'https-static-1k-new-conn', 'a new TLS connection per request (full handshakes: the load generator resumes none)'),
    againstNginx('resumed TLS handshakes', 'https-static-1k-resumed', 'a new TLS 1.3 connection per request resuming the previous session (bench/tls-resume-load.ts; a row below 90% resumed fails) (issue 15 target: ≥ 0.5×)', { target: 0.5 }),
    { label: 'resumed handshakes per server CPU second, twotier ÷ nginx', numerator: 'nginx-https-static-1k-resumed', denominator: 'https-static-1k-resumed', metric: 'cpuMsPerRequest', meaning: 'nginx\'s CPU ms per resumed connection ÷ the web tier\'s: the same comparison when one load generator process is the limit (its CPU share is in the row description)' },
    { label: 'resumed handshakes per server CPU second, twotier ÷ node:https alone', numerator: 'node-https-static-1k-resumed', denominator: 'https-static-1k-resumed', metric: 'cpuMsPerRequest', meaning: 'node:https alone\'s CPU ms per resumed connection (same TLS settings and certificate, no web tier) ÷ the web tier\'s: the share of the web tier\'s cost that is Node\'s own (1 = the web tier adds nothing)' },
    { label: 'resumed handshakes per server CPU second, node:https alone ÷ nginx', numerator: 'nginx-https-static-1k-resumed', denominator: 'node-https-static-1k-resumed', metric: 'cpuMsPerRequest', meaning: 'where a web tier costing nothing would stand against nginx: Node\'s own sockets, TLS and HTTP per resumed connection' },
    { label: 'upstream TLS ÷ plain hop', numerator: 'proxy-echo-upstream-tls', denominator: 'proxy-echo-w1', metric: 'rps', meaning: 'web → app over TLS (APP_UPSTREAMS=https://, kept-alive connections) against the plain hop: what encrypting the hop costs' },
    // Issue 16: WebSockets through the web tier beside nginx and the upstream alone (bench/ws-rows.ts).
    againstNginx('WebSocket echo', 'ws-echo', 'echo round trips per second through the web tier\'s spliced upgrade against nginx proxying the same upstream'),
    { label: 'WebSocket hop', numerator: 'ws-echo', denominator: 'ws-echo-direct', metric: 'rps', meaning: 'share of the upstream\'s own round trips per second left after the web tier hop (1 = free)' },
    { label: 'nginx WebSocket hop', numerator: 'nginx-ws-echo', denominator: 'ws-echo-direct', metric: 'rps', meaning: 'the same for nginx: what its hop leaves of the upstream\'s round trips per second' },
    againstNginx('idle WebSocket memory', 'ws-idle', 'RSS growth per idle WebSocket held through the web tier against nginx (issue 16 target: ≤ 4× nginx\'s bytes per connection)', { metric: 'kibPerConnection', target: 4, atMost: true }),
    againstNginx('idle WS, 2 workers', 'ws-idle-w2', 'the same with two front processes each (WEB_WORKERS=2, worker_processes 2), so 10,000 connections fit a 20,000 open-file limit (issue 16 target: ≤ 4× nginx\'s bytes per connection)', { metric: 'kibPerConnection', target: 4, atMost: true }),
  );
  return list;
}

function ratiosOf(rows: readonly ScenarioResult[]): Ratio[] {
  const byName = new Map(rows.map((row) => [row.name, row]));
  return specs(rows.map((row) => row.name)).map((spec) => {
    const top = metricOf(byName.get(spec.numerator), spec.metric);
    const bottom = metricOf(byName.get(spec.denominator), spec.metric);
    const value = top === null || bottom === null || bottom === 0 ? null : top / bottom;
    return { ...spec, value };
  });
}

/** The middle value (the mean of the two middle ones for an even count); null for none. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const half = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[half] as number) : ((sorted[half - 1] as number) + (sorted[half] as number)) / 2;
}

/**
 * The ratios of a run. With `--rounds` each ratio is taken within every round (the two rows ran
 * minutes apart at most) and its value is the median of those, not the ratio of two median rows:
 * a slow spell that hit one side of a pair in one round moves one value, not the result.
 */
export function computeRatios(result: Pick<BenchResult, 'scenarios'> & Partial<Pick<BenchResult, 'rounds'>>): Ratio[] {
  const base = ratiosOf(result.scenarios);
  const rounds = result.rounds;
  if (rounds === undefined || rounds.length < 2) return base;
  const perRound = rounds.map((rows) => ratiosOf(rows));
  return base.map((ratio, index) => {
    const values = perRound.map((ratios) => ratios[index]?.value ?? null);
    return { ...ratio, value: median(values.filter((value): value is number => value !== null)), rounds: values };
  });
}
