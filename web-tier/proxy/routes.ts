/**
 * WEB_ROUTES (issue 18): several applications behind one web tier. Each route gives a path
 * prefix its own group of upstreams; a request goes to the route with the longest matching
 * prefix (nginx's `location /prefix/` without regexes), and a path no route matches goes to
 * the default group (APP_UPSTREAMS), exactly as it does without routes. The app receives the
 * path unchanged (nginx `proxy_pass http://group;` with no URI part), so an application
 * behind `/shop/` answers under `/shop/`.
 *
 * Written as a config file section, a list of `{ "prefix": "/shop/", "upstreams": ["http://…"] }`;
 * as the env variable, one string: `/shop/=http://127.0.0.1:3001,http://127.0.0.1:3002;/blog/=http://127.0.0.1:3003`
 * (routes separated by ";", each route's upstreams written as APP_UPSTREAMS is, comma-separated).
 * Validated once here: a prefix that could never match (under /-/, /cgi-bin/, a dot-segment),
 * a prefix given twice, a bad URL or a route without upstreams fails start-up naming the route.
 */
import { z } from 'zod';
import { fields, type Frozen } from '../../common/config.js';
import { httpBaseUrl } from './config.js';

/** Paths the web tier decides before any app prefix (classify.ts): a route under them would never be reached. */
const SHADOWING_PREFIXES: readonly string[] = ['/-/', '/cgi-bin/'];

const routeSchema = z.object({
  /** The path prefix, starting and ending with "/" ("/shop/"); "/shop" itself matches too (the app may redirect it). */
  prefix: fields.pathPrefix('a path prefix like "/shop/" (starts and ends with "/", not "/" alone)'),
  /** This route's own upstream group: base URLs as in APP_UPSTREAMS, at least one. */
  upstreams: z.array(httpBaseUrl(), { error: 'must be a list of http:// base URLs' }).min(1, 'must name at least one upstream (an empty group could only answer 503)'),
}).strict();

/** Splits the env form into routes; what it cannot split becomes an issue naming the part at fault. */
export function parseRoutesText(text: string, ctx?: z.core.$RefinementCtx): unknown {
  const routes: { prefix: string; upstreams: string[] }[] = [];
  for (const [index, part] of text.split(';').entries()) {
    const entry = part.trim();
    if (entry === '') continue;
    const equals = entry.indexOf('=');
    if (equals === -1) {
      ctx?.addIssue({ code: 'custom', path: [index], message: `route ${JSON.stringify(entry)} must be written PREFIX=URL[,URL…] (e.g. /shop/=http://127.0.0.1:3001)`, input: text });
      continue;
    }
    routes.push({
      prefix: entry.slice(0, equals).trim(),
      upstreams: entry.slice(equals + 1).split(',').map((url) => url.trim()).filter((url) => url !== ''),
    });
  }
  return routes;
}

function checkRoutes(routes: readonly { readonly prefix: string }[], ctx: z.core.$RefinementCtx): void {
  const seen = new Set<string>();
  for (const [index, { prefix }] of routes.entries()) {
    const shadow = SHADOWING_PREFIXES.find((reserved) => prefix.startsWith(reserved));
    if (shadow !== undefined) ctx.addIssue({ code: 'custom', path: [index, 'prefix'], message: `route "${prefix}" lies under ${shadow}, which the web tier answers itself: it would never be reached`, input: prefix });
    // classify.ts rejects any path with a dot-segment (RFC 3986 §5.2.4) before routing.
    if (prefix.split('/').some((segment) => segment === '.' || segment === '..')) ctx.addIssue({ code: 'custom', path: [index, 'prefix'], message: `route "${prefix}" has a dot-segment: no request path can match it`, input: prefix });
    if (seen.has(prefix)) ctx.addIssue({ code: 'custom', path: [index, 'prefix'], message: `route "${prefix}" is given twice (each prefix names one upstream group)`, input: prefix });
    seen.add(prefix);
  }
}

export const routesSchema = z.preprocess(
  (value, ctx) => (typeof value === 'string' ? parseRoutesText(value, ctx) : value),
  z.array(routeSchema, { error: 'must be a list of { "prefix": "/shop/", "upstreams": ["http://…"] } (or, as WEB_ROUTES, "/shop/=http://…;/blog/=http://…")' }).superRefine(checkRoutes),
);

export type RoutesConfig = Frozen<z.infer<typeof routesSchema>>;
export type RouteConfig = RoutesConfig[number];

/** No routes: every app prefix goes to APP_UPSTREAMS, as before WEB_ROUTES existed. */
export const ROUTES_DEFAULTS: RoutesConfig = Object.freeze([]);

/** The same rule as classify.ts's dynamic prefixes: "/shop/…" and "/shop" itself. */
function matchesPrefix(pathname: string, prefix: string): boolean {
  return pathname.startsWith(prefix) || pathname === prefix.slice(0, -1);
}

/**
 * The route a (classified, normalised) path belongs to: the longest prefix that matches, or
 * undefined for the default group. Prefixes are few (one per application): a linear scan.
 */
export function matchRoute<R extends { readonly prefix: string }>(routes: readonly R[], pathname: string): R | undefined {
  let best: R | undefined;
  for (const route of routes) {
    if (matchesPrefix(pathname, route.prefix) && (best === undefined || route.prefix.length > best.prefix.length)) best = route;
  }
  return best;
}

/** What classify must send to the app slot: the dynamic prefixes, plus every route's prefix not already among them. */
export function appPrefixes(dynamicPrefixes: readonly string[], routes: RoutesConfig): readonly string[] {
  const extra = routes.map((route) => route.prefix).filter((prefix) => !dynamicPrefixes.includes(prefix));
  return extra.length === 0 ? dynamicPrefixes : [...dynamicPrefixes, ...extra];
}

/** Routes pick among upstream groups: they mean nothing when this process serves the app itself (embedded, CGI). */
export function checkRoutesMode(routes: RoutesConfig, dynamic: string): { key: string; message: string } | undefined {
  if (routes.length === 0 || dynamic === 'proxy') return undefined;
  return { key: 'WEB_ROUTES', message: `WEB_ROUTES (routes): routes send prefixes to app tiers, which needs WEB_DYNAMIC=proxy (WEB_DYNAMIC is ${dynamic})` };
}
