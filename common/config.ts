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
  /** Flat (the app tier) or in sections (the web tier): a key whose schema is an object is a section, merged key by key. */
  readonly schema: z.ZodObject<Shape>;
  readonly defaults: Frozen<z.infer<z.ZodObject<Shape>>>;
  /** Env var → dotted config path ("proxy.connectTimeoutMs") and how its string is read. */
  readonly envBindings: Readonly<Record<string, EnvBinding>>;
  /** Values from a config file (already read), or undefined. */
  readonly fileValues?: Record<string, unknown> | undefined;
  readonly fileName?: string | undefined;
  /** Top-level file keys that moved (old key → dotted path): they fail with "moved to …" instead of "unknown key". */
  readonly movedKeys?: Readonly<Record<string, string>> | undefined;
  readonly env: Env;
}

function describePath(path: readonly PropertyKey[]): string {
  return path.map((part) => (typeof part === 'number' ? `[${part}]` : String(part))).join('.').replace(/\.\[/g, '[');
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** `{ "proxy": { "connectTimeoutMs": … } }` for "proxy.connectTimeoutMs": how to write a moved key now. */
function nestedExample(path: string): string {
  const parts = path.split('.');
  return parts.reduceRight((inner, part) => `{ "${part}": ${inner} }`, '…');
}

interface Merge {
  readonly where: string;
  readonly sourceOf: Map<string, string>;
  readonly movedKeys: Readonly<Record<string, string>>;
}

/** Copies a file's values over the defaults, section by section; an unknown or moved key throws. */
function mergeFile(shape: z.ZodRawShape, target: Record<string, unknown>, values: Record<string, unknown>, prefix: string, merge: Merge): void {
  for (const [key, value] of Object.entries(values)) {
    if (prefix === '' && (key === '$schema' || key === '$comment')) continue;
    const path = prefix === '' ? key : `${prefix}.${key}`;
    const inner = shape[key];
    if (inner === undefined) {
      const movedTo = prefix === '' ? merge.movedKeys[key] : undefined;
      if (movedTo !== undefined) {
        throw new ConfigError(key, `${merge.where}: key "${key}" moved to "${movedTo}": write ${nestedExample(movedTo)}`);
      }
      throw new ConfigError(path, `${merge.where}: unknown key "${path}" (known keys: ${Object.keys(shape).join(', ')})`);
    }
    if (inner instanceof z.ZodObject) {
      if (!isPlainObject(value)) {
        throw new ConfigError(`${merge.where}: "${path}"`, `${merge.where}: "${path}" must be an object of { ${Object.keys(inner.shape).join(', ')} }, got ${JSON.stringify(value)}`);
      }
      const section = { ...(target[key] as Record<string, unknown>) };
      target[key] = section;
      mergeFile(inner.shape, section, value, path, merge);
      continue;
    }
    target[key] = value;
    merge.sourceOf.set(path, `${merge.where}: "${path}"`);
  }
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = { ...(node[part] as Record<string, unknown>) };
    node[part] = next;
    node = next;
  }
  node[parts[parts.length - 1] ?? path] = value;
}

function getPath(target: Record<string, unknown>, path: string): unknown {
  let node: unknown = target;
  for (const part of path.split('.')) node = isPlainObject(node) ? node[part] : undefined;
  return node;
}

/** The setting an issue is about: its path down through sections, stopping at the first non-object schema. */
function settingOf(schema: z.ZodObject, path: readonly PropertyKey[]): string {
  const parts: string[] = [];
  let node: unknown = schema;
  for (const part of path) {
    if (!(node instanceof z.ZodObject)) break;
    parts.push(String(part));
    node = (node.shape as z.ZodRawShape)[String(part)];
  }
  return parts.join('.');
}

/** DEFAULTS ← file ← env, validated strictly, frozen. Throws ConfigError. */
export function buildConfig<Shape extends z.ZodRawShape>(options: BuildConfigOptions<Shape>): Readonly<z.infer<z.ZodObject<Shape>>> {
  const merged = structuredClone(options.defaults) as Record<string, unknown>;
  const sourceOf = new Map<string, string>();

  if (options.fileValues !== undefined) {
    const merge = { where: options.fileName ?? 'config file', sourceOf, movedKeys: options.movedKeys ?? {} };
    mergeFile(options.schema.shape, merged, options.fileValues, '', merge);
  }

  for (const [name, binding] of Object.entries(options.envBindings)) {
    const raw = options.env[name];
    if (raw === undefined || raw === '') continue;
    setPath(merged, binding.key, readEnvValue(name, raw, binding.kind));
    sourceOf.set(binding.key, name);
  }

  const result = options.schema.strict().safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0];
    const setting = issue === undefined ? '' : settingOf(options.schema, issue.path);
    const key = sourceOf.get(setting) ?? setting;
    const path = issue === undefined ? '' : describePath(issue.path);
    const detail = issue?.message ?? 'is invalid';
    const value = getPath(merged, setting);
    const got = value === undefined ? '' : `, got ${JSON.stringify(value)}`;
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
