/**
 * The URL table's engine: routes are compiled once by createRouter(), then `resolve()` decides
 * what a request is (a view to call, a slash redirect, 400/404/405, or an OPTIONS answer) without
 * doing any I/O, so the application turns the decision into a response in one place.
 */
import type { ParamValue } from './converters.js';
import { compilePath, compileRegex, type CompiledPattern } from './pattern.js';
import { MalformedPathError, splitTarget, toMatchPath } from './path-text.js';

export type RouteParams = Readonly<Record<string, ParamValue>>;

/** Handlers by method; the key "*" answers every method (the view then sees HEAD and OPTIONS itself). */
export type MethodHandlers<H> = Readonly<Partial<Record<string, H>>>;

export interface RouteDefinition<H> {
  readonly pattern: CompiledPattern;
  readonly handlers: MethodHandlers<H>;
  readonly name: string | undefined;
}

/** A Django `path()` route: `path('articles/<int:year>/', { GET: view }, 'archive-year')`. */
export function path<H>(pattern: string, handlers: MethodHandlers<H>, name?: string): RouteDefinition<H> {
  return { pattern: compilePath(pattern), handlers, name };
}

/** A Django `re_path()` route: named groups become (string) parameters. */
export function rePath<H>(regex: RegExp, handlers: MethodHandlers<H>, name?: string): RouteDefinition<H> {
  return { pattern: compileRegex(regex), handlers, name };
}

export type Resolution<H> =
  | { readonly kind: 'match'; readonly handler: H; readonly params: RouteParams; readonly routeName: string | undefined; readonly rawPath: string; readonly search: string }
  /** APPEND_SLASH: 301 for GET/HEAD, 308 (method and body kept, RFC 9110 §15.4.9) for the rest. */
  | { readonly kind: 'redirect'; readonly status: 301 | 308; readonly location: string }
  | { readonly kind: 'options'; readonly allow: string }
  | { readonly kind: 'method-not-allowed'; readonly allow: string }
  | { readonly kind: 'not-found' }
  | { readonly kind: 'bad-request'; readonly error: MalformedPathError };

/** One entry of the URL table as a person reads it (Django's debug 404 lists these). */
export interface RouteEntry {
  readonly pattern: string;
  readonly kind: 'path' | 're_path';
  readonly name: string | undefined;
  /** The Allow value: methods the route answers ("*": any method, the view decides). */
  readonly methods: string;
}

export interface Router<H> {
  resolve(method: string, target: string): Resolution<H>;
  /** The URL table in the order it is tried. */
  entries(): readonly RouteEntry[];
  /** Builds the path of a named route; throws TypeError for an unknown name or a bad parameter. */
  reverse(name: string, params?: Readonly<Record<string, ParamValue>>): string;
}

/** The exact Allow value for a route: HEAD wherever GET is (RFC 9110 §9.3.2), OPTIONS always. */
function allowFor<H>(handlers: MethodHandlers<H>): string {
  const methods: string[] = [];
  for (const method of Object.keys(handlers)) {
    if (method === '*' || methods.includes(method)) continue;
    methods.push(method);
    if (method === 'GET' && handlers['HEAD'] === undefined) methods.push('HEAD');
  }
  if (!methods.includes('OPTIONS')) methods.push('OPTIONS');
  return methods.join(', ');
}

function handlerFor<H>(handlers: MethodHandlers<H>, method: string): H | undefined {
  return handlers[method] ?? (method === 'HEAD' ? handlers['GET'] : undefined) ?? handlers['*'];
}

export function createRouter<H>(routes: readonly RouteDefinition<H>[]): Router<H> {
  const named = new Map<string, CompiledPattern>();
  const table = routes.map((route) => ({ ...route, allow: allowFor(route.handlers) }));
  for (const route of table) {
    if (route.name === undefined) continue;
    if (named.has(route.name)) throw new TypeError(`route name "${route.name}" is used twice`);
    named.set(route.name, route.pattern);
  }

  function find(matchPath: string): { route: (typeof table)[number]; params: RouteParams } | null {
    for (const route of table) {
      const params = route.pattern.match(matchPath);
      if (params !== null) return { route, params };
    }
    return null;
  }

  const entries: readonly RouteEntry[] = Object.freeze(
    table.map((route) => ({ pattern: route.pattern.source, kind: route.pattern.kind, name: route.name, methods: route.handlers['*'] === undefined ? route.allow : '*' })),
  );

  return {
    entries: () => entries,
    resolve(method, target) {
      let rawPath: string;
      let search: string;
      let matchPath: string;
      try {
        ({ rawPath, search } = splitTarget(target));
        matchPath = toMatchPath(rawPath);
      } catch (error) {
        if (error instanceof MalformedPathError) return { kind: 'bad-request', error };
        throw error;
      }

      const found = find(matchPath);
      if (found === null) {
        // Django's CommonMiddleware (APPEND_SLASH): redirect only when the slash form would match.
        // "//host" or "/\host" would make Location a network-path reference to another site
        // (Django CVE-2018-14574), so such paths are never redirected.
        const openRedirect = /^\/[/\\]/.test(rawPath);
        if (!rawPath.endsWith('/') && !openRedirect && find(`${matchPath}/`) !== null) {
          const status = method === 'GET' || method === 'HEAD' ? 301 : 308;
          return { kind: 'redirect', status, location: `${rawPath}/${search}` };
        }
        return { kind: 'not-found' };
      }

      const { route, params } = found;
      const handler = handlerFor(route.handlers, method);
      if (handler !== undefined) {
        return { kind: 'match', handler, params, routeName: route.name, rawPath, search };
      }
      if (method === 'OPTIONS') return { kind: 'options', allow: route.allow };
      return { kind: 'method-not-allowed', allow: route.allow };
    },

    reverse(name, params = {}) {
      const pattern = named.get(name);
      if (pattern === undefined) throw new TypeError(`no route named "${name}"`);
      return pattern.reverse(params);
    },
  };
}
