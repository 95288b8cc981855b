/**
 * Compiles route patterns once, at start-up: Django's `path()` syntax
 * ('articles/<int:year>/<slug:slug>/') and `re_path()`-style regular expressions with named
 * groups. Both match against the "match path" built by `path-text.ts`: the path without its
 * leading "/", each segment decoded once, with a decoded "/" or "%" kept escaped so it can
 * never split a segment.
 */
import { CONVERTERS, type Converter, type ParamValue } from './converters.js';
import { unescapeMatched } from './path-text.js';

interface LiteralPart { readonly kind: 'literal'; readonly text: string }
interface ParamPart { readonly kind: 'param'; readonly name: string; readonly converter: Converter }
type PatternPart = LiteralPart | ParamPart;

export interface CompiledPattern {
  /** The pattern as written, for error messages. */
  readonly source: string;
  /** Which of Django's two syntaxes wrote it. */
  readonly kind: 'path' | 're_path';
  /** Typed parameters, or null when the path does not match. */
  match(matchPath: string): Record<string, ParamValue> | null;
  /** Builds the path (with its leading "/") from parameters; throws TypeError when one is missing or invalid. */
  reverse(params: Readonly<Record<string, ParamValue>>): string;
}

const PARAM = /<(?:([a-z_][a-z0-9_]*):)?([A-Za-z_][A-Za-z0-9_]*)>/g;

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Literal pattern text as it appears in a match path: "%" and nothing else needs escaping. */
function literalToMatchText(text: string): string {
  return text.replace(/%/g, '%25');
}

function stripLeadingSlash(pattern: string): string {
  return pattern.startsWith('/') ? pattern.slice(1) : pattern;
}

/** Django's `path()`: literal text with `<converter:name>` parameters (converter defaults to str). */
export function compilePath(pattern: string): CompiledPattern {
  const source = stripLeadingSlash(pattern);
  const parts: PatternPart[] = [];
  let last = 0;
  for (const found of source.matchAll(PARAM)) {
    const index = found.index;
    if (index > last) parts.push({ kind: 'literal', text: source.slice(last, index) });
    const converterName = found[1] ?? 'str';
    const converter = CONVERTERS[converterName];
    if (converter === undefined) {
      throw new TypeError(`route ${JSON.stringify(pattern)}: unknown converter "${converterName}" (known: ${Object.keys(CONVERTERS).join(', ')})`);
    }
    const name = found[2] ?? '';
    if (parts.some((part) => part.kind === 'param' && part.name === name)) {
      throw new TypeError(`route ${JSON.stringify(pattern)}: parameter "${name}" appears twice`);
    }
    parts.push({ kind: 'param', name, converter });
    last = index + found[0].length;
  }
  if (last < source.length) parts.push({ kind: 'literal', text: source.slice(last) });
  for (const part of parts) {
    if (part.kind === 'literal' && /[<>]/.test(part.text)) {
      throw new TypeError(`route ${JSON.stringify(pattern)}: malformed parameter near ${JSON.stringify(part.text)}`);
    }
  }

  const params = parts.filter((part): part is ParamPart => part.kind === 'param');
  const regex = new RegExp(
    `^${parts.map((part) => (part.kind === 'literal' ? escapeRegex(literalToMatchText(part.text)) : `(${part.converter.regex})`)).join('')}$`,
    'u',
  );

  return {
    source: pattern,
    kind: 'path',
    match(matchPath) {
      const found = regex.exec(matchPath);
      if (found === null) return null;
      const values: Record<string, ParamValue> = {};
      for (const [index, param] of params.entries()) {
        try {
          values[param.name] = param.converter.toValue(unescapeMatched(found[index + 1] ?? ''));
        } catch {
          return null;
        }
      }
      return values;
    },
    reverse(values) {
      let path = '/';
      for (const part of parts) {
        if (part.kind === 'literal') {
          path += encodeURI(part.text);
          continue;
        }
        const value = values[part.name];
        if (value === undefined) throw new TypeError(`route ${JSON.stringify(pattern)} needs parameter "${part.name}"`);
        path += part.converter.toUrl(value);
      }
      return path;
    },
  };
}

/**
 * Django's `re_path()`: a regular expression with named groups, matched against the whole match
 * path (as if anchored with ^…$). Group values are strings. Reversing one is not supported:
 * name a `path()` route instead.
 */
export function compileRegex(regex: RegExp): CompiledPattern {
  const whole = new RegExp(`^(?:${regex.source})$`, regex.flags.replace(/[gy]/g, ''));
  return {
    source: String(regex),
    kind: 're_path',
    match(matchPath) {
      const found = whole.exec(matchPath);
      if (found === null) return null;
      const values: Record<string, ParamValue> = {};
      for (const [name, value] of Object.entries(found.groups ?? {})) {
        if (value !== undefined) values[name] = unescapeMatched(value);
      }
      return values;
    },
    reverse() {
      throw new TypeError(`route ${String(regex)} is a regular-expression route and cannot be reversed`);
    },
  };
}
