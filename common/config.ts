/**
 * Helpers for each tier's `loadConfig(file, env)`: DEFAULTS, then a JSON config file, then
 * environment variables, validated by one strict zod schema. The result is frozen. Every
 * error names the offending key (and where it came from: the env var or the file) and what
 * was expected, in one line, so `main` can print it and exit 1.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  /** The env var or config-file key at fault. */
  readonly key: string;
  constructor(key: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConfigError';
    this.key = key;
  }
}

export type EnvKind = 'string' | 'int' | 'list' | 'bool';

/** How an env var maps onto a config key, and how its string is read. */
export interface EnvBinding {
  readonly key: string;
  readonly kind: EnvKind;
}

export type Env = Readonly<Record<string, string | undefined>>;

function readEnvValue(name: string, raw: string, kind: EnvKind): unknown {
  switch (kind) {
    case 'string':
      return raw;
    case 'list':
      return raw.split(',').map((item) => item.trim()).filter((item) => item.length > 0);
    case 'bool':
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      throw new ConfigError(name, `${name} must be a boolean (1/0, true/false), got ${JSON.stringify(raw)}`);
    case 'int': {
      const trimmed = raw.trim();
      // Number('') is 0 and Number('0x10') is 16: accept plain decimal integers only.
      if (!/^-?\d+$/.test(trimmed)) {
        throw new ConfigError(name, `${name} must be an integer, got ${JSON.stringify(raw)}`);
      }
      return Number(trimmed);
    }
  }
}

/** Reads a JSON config file into a plain object, or throws a ConfigError naming the file. */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError('--config', `config file ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError('--config', `config file ${file} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError('--config', `config file ${file} must hold a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

export interface BuildConfigOptions<Shape extends z.ZodRawShape> {
  readonly schema: z.ZodObject<Shape>;
  readonly defaults: z.infer<z.ZodObject<Shape>>;
  readonly envBindings: Readonly<Record<string, EnvBinding>>;
  /** Values from a config file (already read), or undefined. */
  readonly fileValues?: Record<string, unknown> | undefined;
  readonly fileName?: string | undefined;
  readonly env: Env;
}

function describePath(path: readonly PropertyKey[]): string {
  return path.map((part) => (typeof part === 'number' ? `[${part}]` : String(part))).join('.').replace(/\.\[/g, '[');
}

/** DEFAULTS ← file ← env, validated strictly, frozen. Throws ConfigError. */
export function buildConfig<Shape extends z.ZodRawShape>(options: BuildConfigOptions<Shape>): Readonly<z.infer<z.ZodObject<Shape>>> {
  const known = Object.keys(options.schema.shape);
  const merged: Record<string, unknown> = { ...(options.defaults as Record<string, unknown>) };
  const sourceOf = new Map<string, string>();

  if (options.fileValues !== undefined) {
    const where = options.fileName ?? 'config file';
    for (const [key, value] of Object.entries(options.fileValues)) {
      if (key === '$schema' || key === '$comment') continue;
      if (!known.includes(key)) {
        throw new ConfigError(key, `${where}: unknown key "${key}" (known keys: ${known.join(', ')})`);
      }
      merged[key] = value;
      sourceOf.set(key, `${where}: "${key}"`);
    }
  }

  for (const [name, binding] of Object.entries(options.envBindings)) {
    const raw = options.env[name];
    if (raw === undefined || raw === '') continue;
    merged[binding.key] = readEnvValue(name, raw, binding.kind);
    sourceOf.set(binding.key, name);
  }

  const result = options.schema.strict().safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0];
    const top = issue === undefined ? '' : String(issue.path[0] ?? '');
    const key = sourceOf.get(top) ?? top;
    const path = issue === undefined ? '' : describePath(issue.path);
    const detail = issue?.message ?? 'is invalid';
    const got = top in merged ? `, got ${JSON.stringify(merged[top])}` : '';
    const label = key === path || key.endsWith(`"${path}"`) ? key : `${key} (${path})`;
    throw new ConfigError(key, `${label}: ${detail}${got}`, { cause: result.error });
  }
  return deepFreeze(result.data) as Readonly<z.infer<z.ZodObject<Shape>>>;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** Reusable field schemas with messages that say what is expected. */
export const fields = {
  port: () => z.number({ error: 'must be a port number from 0 to 65535' }).int('must be a port number from 0 to 65535').min(0, 'must be a port number from 0 to 65535').max(65535, 'must be a port number from 0 to 65535'),
  host: () => z.string({ error: 'must be a host name or IP address' }).min(1, 'must be a host name or IP address'),
  positiveInt: (what: string) => z.number({ error: `must be ${what}` }).int(`must be ${what}`).min(1, `must be ${what}`),
  nonNegativeInt: (what: string) => z.number({ error: `must be ${what}` }).int(`must be ${what}`).min(0, `must be ${what}`),
  logLevel: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { error: 'must be one of fatal, error, warn, info, debug, trace, silent' }),
  /** A URL path prefix such as "/api/": starts and ends with "/", and is not "/" itself (that would hide the static site). */
  pathPrefix: (what: string) => z.string({ error: `must be ${what}` }).regex(PATH_PREFIX, `must be ${what}`),
};

const PATH_PREFIX = /^\/[A-Za-z0-9._~!$&'()*+,;=:@-]+(?:\/[A-Za-z0-9._~!$&'()*+,;=:@-]+)*\/$/;

/** What a validated config is: deep-frozen by buildConfig, so every array and nested object is read-only. */
export type Frozen<T> = T extends readonly (infer Item)[] ? readonly Frozen<Item>[] : T extends object ? { readonly [Key in keyof T]: Frozen<T[Key]> } : T;

/** Parses `--config FILE` and `--placement NAME` style flags; unknown flags are an error. */
export function parseFlags(argv: readonly string[], allowed: readonly string[]): Record<string, string> {
  const flags: Record<string, string> = {};
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index] ?? '';
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (match === null || !allowed.includes(match[1] ?? '')) {
      throw new ConfigError(arg, `unknown argument ${JSON.stringify(arg)} (allowed: ${allowed.map((flag) => `--${flag}`).join(', ')})`);
    }
    const name = match[1] ?? '';
    const value = match[2] ?? argv[index + 1];
    if (match[2] === undefined) index += 1;
    if (value === undefined || value.startsWith('--')) {
      throw new ConfigError(`--${name}`, `--${name} needs a value`);
    }
    flags[name] = value;
  }
  return flags;
}
