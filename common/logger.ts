import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** pino level; 'silent' in tests and benchmarks. */
  level?: LevelWithSilent;
  /** Which tier writes ("web", "app", "cgi"): every line carries it, so interleaved logs stay readable. */
  tier: string;
  /** Where lines go; stdout when absent. Tests pass a sink and parse the lines. */
  destination?: DestinationStream;
}

/** Redacted wherever they appear: secrets never reach a log line. */
const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'config.appToken',
  'config.databaseUrl',
];

export function createLogger(options: LoggerOptions): Logger {
  const pinoOptions = {
    level: options.level ?? 'info',
    base: { tier: options.tier, pid: process.pid },
    redact: { paths: REDACT, censor: '[redacted]' },
  };
  return options.destination === undefined ? pino(pinoOptions) : pino(pinoOptions, options.destination);
}

const LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function isLogLevel(value: string): value is LevelWithSilent {
  return LEVELS.includes(value);
}
