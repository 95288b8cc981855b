/**
 * createLogger for every process of the deployment (web, app, cgi). JSON lines to stdout by
 * default: that is what log shippers and `grep <request id>` read. For a person at a terminal,
 * pino-pretty runs as a transport (a worker thread), never in the request path of a JSON logger.
 */
import { pino, type DestinationStream, type Logger, type LevelWithSilent, type LoggerOptions as PinoOptions } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** pino level; 'silent' in tests and benchmarks. */
  level?: LevelWithSilent;
  /**
   * Which process writes ("web", "app", "cgi"), as the `service` field of every line, so
   * interleaved logs stay readable. (`tier` on an access line says who answered the request.)
   */
  tier: string;
  /** Where lines go; stdout when absent. Tests pass a sink and parse the lines. */
  destination?: DestinationStream;
  /** Readable colored lines through pino-pretty (see `prettyWanted`); ignored with a destination. */
  pretty?: boolean;
}

/**
 * Redacted wherever they appear: secrets never reach a log line. pino's paths take one
 * wildcard level, so the usual holders (req, headers, config, env) are named explicitly.
 */
export const REDACT_PATHS: readonly string[] = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'headers.authorization',
  'headers.cookie',
  'headers["proxy-authorization"]',
  'config.appToken',
  'config.databaseUrl',
  'appToken',
  'databaseUrl',
  'env.APP_TOKEN',
  'env.DATABASE_URL',
  'env.PGPASSWORD',
  '*.appToken',
  '*.databaseUrl',
  '*.password',
  'password',
];

/** LOG_PRETTY=1 forces readable lines, LOG_PRETTY=0 forces JSON; unset: readable only on a TTY. */
export function prettyWanted(logPretty: string | undefined, stdoutIsTty: boolean | undefined): boolean {
  if (logPretty !== undefined && /^(1|true|yes|on)$/i.test(logPretty)) return true;
  if (logPretty !== undefined && /^(0|false|no|off)$/i.test(logPretty)) return false;
  return stdoutIsTty === true;
}

export function createLogger(options: LoggerOptions): Logger {
  const pinoOptions: PinoOptions = {
    level: options.level ?? 'info',
    base: { service: options.tier, pid: process.pid },
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
  };
  if (options.destination !== undefined) return pino(pinoOptions, options.destination);
  if (options.pretty === true) {
    return pino({
      ...pinoOptions,
      transport: {
        target: 'pino-pretty',
        options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'hostname', messageFormat: '[{service}] {msg}' },
      },
    });
  }
  return pino(pinoOptions);
}

const LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function isLogLevel(value: string): value is LevelWithSilent {
  return LEVELS.includes(value);
}
