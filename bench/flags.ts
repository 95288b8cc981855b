/** `npm run bench -- [flags]`: flags win over BENCH_* environment variables, which win over defaults. */
import type { BenchFlags } from './result-schema.js';

export interface BenchOptions extends BenchFlags {
  /** Extra copy of the JSON result (`--json FILE`), or null. */
  readonly jsonFile: string | null;
  readonly resultsDir: string;
  readonly help: boolean;
}

export const DEFAULTS = {
  full: { durationSec: 10, warmupSec: 2, cgiRequests: 200, cgiMaxSec: 60 },
  /** A smoke check: every row runs, none of the figures mean much. */
  quick: { durationSec: 2, warmupSec: 1, cgiRequests: 30, cgiMaxSec: 20 },
  connections: 10,
  pipelining: 1,
  resultsDir: 'bench/results',
  /** Idle WebSocket connections per idle row (issue 16: "10,000 idle WebSocket connections"). */
  wsIdleConnections: 10_000,
} as const;

/**
 * issue 8: `--compare nginx` runs each reference row (nginx, sirv, the http-proxy engine) beside
 * the twotier row it is compared with, and the web tier with WEB_WORKERS=1 and 2.
 */
export const COMPARE_SETS: Readonly<Record<string, readonly string[]>> = {
  nginx: [
    'static-1k', 'nginx-static-1k', 'sirv-static-1k', 'static-100k', 'nginx-static-100k',
    'proxy-echo-w1', 'proxy-echo-w1-http-proxy', 'nginx-proxy-echo', 'nginx-proxy-echo-edge', 'static-1k-web-w1', 'static-1k-web-w2',
  ],
  // Issue 15: the https rows beside nginx with the same certificate (bench/https-rows.ts), and the plain hop for the upstream TLS ratio.
  https: [
    'https-static-1k', 'nginx-https-static-1k', 'node-https-static-1k', 'https-proxy-echo', 'nginx-https-proxy-echo',
    'https-static-1k-new-conn', 'nginx-https-static-1k-new-conn', 'https-static-1k-resumed', 'nginx-https-static-1k-resumed',
    'node-https-static-1k-resumed', 'proxy-echo-w1', 'proxy-echo-upstream-tls',
  ],
  // Issue 16: WebSocket echo round trips through the web tier, nginx and the upstream alone; idle connections' RSS.
  websocket: ['ws-echo', 'nginx-ws-echo', 'ws-echo-direct', 'ws-idle', 'nginx-ws-idle', 'ws-idle-w2', 'nginx-ws-idle-w2'],
};

/** --rounds: a bound, so a typo (100 for 10) does not run for a day. */
export const MAX_ROUNDS = 20;

export const USAGE = `Usage: npm run bench -- [options]

  --quick                 a short smoke run (${DEFAULTS.quick.durationSec} s per scenario)      BENCH_QUICK=1
  --duration SEC          measured seconds per scenario (default ${DEFAULTS.full.durationSec})    BENCH_DURATION
  --warmup SEC            warm-up seconds before measuring (default ${DEFAULTS.full.warmupSec})  BENCH_WARMUP
  --cgi-requests N        CGI rows run by count: requests per row (default ${DEFAULTS.full.cgiRequests},  BENCH_CGI_REQUESTS
                          quick ${DEFAULTS.quick.cgiRequests}; cgi-shell runs 10×)
  --cgi-max-sec SEC       time cap of a CGI row (default ${DEFAULTS.full.cgiMaxSec}, quick ${DEFAULTS.quick.cgiMaxSec})     BENCH_CGI_MAX_SEC
  --connections N         concurrent connections (default ${DEFAULTS.connections})          BENCH_CONNECTIONS
  --pipelining N          requests in flight per connection (default ${DEFAULTS.pipelining})   BENCH_PIPELINING
  --workers N             proxy-echo-w1 … wN (default: CPU count)           BENCH_WORKERS
  --scenarios a,b         only these scenarios                              BENCH_SCENARIOS
  --compare nginx         static-1k/100k beside nginx and sirv, proxy-echo-w1 beside
                          nginx and the http-proxy engine, web tier WEB_WORKERS=1 and 2
  --compare websocket     WebSocket echo through the web tier, nginx and the upstream
                          alone; idle connections' RSS through the web tier and nginx
  --ws-idle N             idle WebSocket connections per idle row (default ${DEFAULTS.wsIdleConnections}) BENCH_WS_IDLE
  --rounds N              run the scenarios N times in turn (A B A B …, up to ${MAX_ROUNDS}): each    BENCH_ROUNDS
                          row is its median round, each ratio the median of
                          the rounds' ratios (default 1)
  --json FILE             also write the JSON result to FILE                BENCH_JSON
  --results-dir DIR       where <timestamp>.* and latest.* go (default ${DEFAULTS.resultsDir})  BENCH_RESULTS_DIR
  --no-pin                do not pin servers and load generator with taskset  BENCH_PIN=0
  --help
`;

export class BenchFlagError extends Error {
  readonly code = 'BENCH_BAD_FLAG';
  constructor(message: string) {
    super(message);
    this.name = 'BenchFlagError';
  }
}

const VALUE_FLAGS: Readonly<Record<string, string>> = {
  duration: 'BENCH_DURATION', warmup: 'BENCH_WARMUP', connections: 'BENCH_CONNECTIONS', pipelining: 'BENCH_PIPELINING',
  'cgi-requests': 'BENCH_CGI_REQUESTS', 'cgi-max-sec': 'BENCH_CGI_MAX_SEC',
  workers: 'BENCH_WORKERS', scenarios: 'BENCH_SCENARIOS', json: 'BENCH_JSON', 'results-dir': 'BENCH_RESULTS_DIR', compare: '', 'ws-idle': 'BENCH_WS_IDLE', rounds: 'BENCH_ROUNDS',
};

function number(name: string, raw: string, integer: boolean, min: number): number {
  const value = Number(raw.trim());
  if (raw.trim() === '' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new BenchFlagError(`${name} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function truthy(raw: string | undefined): boolean | undefined {
  if (raw === undefined || raw === '') return undefined;
  return /^(1|true|yes|on)$/i.test(raw);
}

export function parseBenchArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, cpus: number): BenchOptions {
  const values: Record<string, string> = {};
  let quick = truthy(env['BENCH_QUICK']) ?? false;
  let pin = truthy(env['BENCH_PIN']) ?? true;
  let help = false;
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index] as string;
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    const name = match?.[1] ?? '';
    if (match === null) throw new BenchFlagError(`unexpected argument ${JSON.stringify(arg)}\n${USAGE}`);
    if (name === 'quick' || name === 'no-pin' || name === 'help') {
      if (match[2] !== undefined) throw new BenchFlagError(`--${name} takes no value`);
      if (name === 'quick') quick = true;
      else if (name === 'no-pin') pin = false;
      else help = true;
      continue;
    }
    if (!(name in VALUE_FLAGS)) throw new BenchFlagError(`unknown flag --${name}\n${USAGE}`);
    const value = match[2] ?? argv[index + 1];
    if (match[2] === undefined) index += 1;
    if (value === undefined || value.startsWith('--')) throw new BenchFlagError(`--${name} needs a value`);
    values[name] = value;
  }
  const pick = (name: string): [string, string] | undefined => {
    if (values[name] !== undefined) return [`--${name}`, values[name]];
    const envName = VALUE_FLAGS[name] ?? '';
    const raw = envName === '' ? undefined : env[envName];
    return raw === undefined || raw === '' ? undefined : [envName, raw];
  };
  const numeric = (name: string, fallback: number, integer: boolean, min: number): number => {
    const found = pick(name);
    return found === undefined ? fallback : number(found[0], found[1], integer, min);
  };
  const base = quick ? DEFAULTS.quick : DEFAULTS.full;
  const connections = numeric('connections', DEFAULTS.connections, true, 1);
  const list = (raw: string | undefined): string[] => (raw ?? '').split(',').map((item) => item.trim()).filter((item) => item !== '');
  const scenarios = list(pick('scenarios')?.[1]);
  const compare = values['compare'];
  if (compare !== undefined) {
    const set = COMPARE_SETS[compare];
    if (set === undefined) throw new BenchFlagError(`--compare must be one of ${Object.keys(COMPARE_SETS).join(', ')}, got ${JSON.stringify(compare)}`);
    for (const name of set) if (!scenarios.includes(name)) scenarios.push(name);
  }
  const rounds = numeric('rounds', 1, true, 1);
  if (rounds > MAX_ROUNDS) throw new BenchFlagError(`${pick('rounds')?.[0] ?? '--rounds'} must be an integer from 1 to ${MAX_ROUNDS}, got ${rounds}`);
  return {
    quick,
    // Whole seconds: autocannon checks its stop flag on its 1 s sample tick, so 0.5 s would run 1 s anyway.
    durationSec: numeric('duration', base.durationSec, true, 1),
    warmupSec: numeric('warmup', base.warmupSec, true, 0),
    connections,
    // autocannon refuses an amount below the number of connections.
    cgiRequests: Math.max(connections, numeric('cgi-requests', base.cgiRequests, true, 1)),
    cgiMaxSec: numeric('cgi-max-sec', base.cgiMaxSec, true, 1),
    pipelining: numeric('pipelining', DEFAULTS.pipelining, true, 1),
    maxWorkers: numeric('workers', Math.max(1, cpus), true, 1),
    wsIdleConnections: numeric('ws-idle', DEFAULTS.wsIdleConnections, true, 1),
    rounds,
    scenarios,
    pin,
    jsonFile: pick('json')?.[1] ?? null,
    resultsDir: pick('results-dir')?.[1] ?? DEFAULTS.resultsDir,
    help,
  };
}
