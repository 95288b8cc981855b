/**
 * The proxy when WEB_ROUTES names routes (routes.ts): one whole proxy handler per upstream
 * group (its own pool, admission queue, agent, active health checks and discovery), and this
 * thin front that picks the group by the longest matching prefix. Nothing is shared between
 * groups, so one application's upstreams going down, or its queue filling, is that
 * application's 503 only. Without routes the web tier builds the plain proxy handler, not this.
 */
import type { RequestContext } from '../context.js';
import { sendError, TwotierError } from '../error-response.js';
import type { ProxyHandler, ProxyStats } from './handler.js';
import type { UpstreamState } from './pool.js';
import { matchRoute } from './routes.js';

/** The group of the upstreams APP_UPSTREAMS names: every app path no route claims. */
export const DEFAULT_GROUP = 'default';

export interface RoutedGroup {
  readonly prefix: string;
  readonly handler: ProxyHandler;
}

/** An upstream as the operator sees it with routes: which group (the route's prefix, or "default") it belongs to. */
export type GroupedUpstreamState = UpstreamState & { readonly group: string };

export interface RoutedProxy extends ProxyHandler {
  /** The handler for a classified path: its route's group, or the default one. */
  groupFor(pathname: string): ProxyHandler;
  upstreamStates(): readonly GroupedUpstreamState[];
}

function addStats(into: ProxyStats, from: ProxyStats): void {
  into.requests += from.requests;
  into.retries += from.retries;
  into.retryBudgetExhausted += from.retryBudgetExhausted;
  into.queueTimeouts += from.queueTimeouts;
  into.queueFull += from.queueFull;
  for (const [url, failures] of Object.entries(from.failuresByUpstream)) into.failuresByUpstream[url] = (into.failuresByUpstream[url] ?? 0) + failures;
}

export function createRoutedProxy(fallback: ProxyHandler, routes: readonly RoutedGroup[]): RoutedProxy {
  const named = [{ group: DEFAULT_GROUP, handler: fallback }, ...routes.map((route) => ({ group: route.prefix, handler: route.handler }))];
  const groupFor = (pathname: string): ProxyHandler => matchRoute(routes, pathname)?.handler ?? fallback;
  return {
    groupFor,
    handle(req, res, ctx: RequestContext) {
      groupFor(ctx.pathname).handle(req, res, ctx);
    },
    // A WebSocket handshake goes to its path's group too (each group's proxy relays it: upgrade.ts).
    upgrade(req, socket, head, ctx) {
      const handler = groupFor(ctx.pathname);
      if (handler.upgrade !== undefined) handler.upgrade(req, socket, head, ctx);
      else sendError(ctx.response, ctx, new TwotierError('WEB_ERR_NOT_IMPLEMENTED', 'this upstream group takes no upgrades'), { close: true });
    },
    // The web tier's /readyz: ready while any application can be reached. One application
    // down must not make a load balancer pull the whole web tier, which would take the
    // others down with it; that application's own paths answer 503 meanwhile.
    hasHealthyUpstream: () => named.some(({ handler }) => handler.hasHealthyUpstream()),
    upstreamStates: () => named.flatMap(({ group, handler }) => handler.upstreamStates().map((state) => ({ ...state, group }))),
    stats() {
      const total: ProxyStats = { requests: 0, retries: 0, retryBudgetExhausted: 0, queueTimeouts: 0, queueFull: 0, failuresByUpstream: {} };
      for (const { handler } of named) addStats(total, handler.stats());
      return total;
    },
    checkUpstreams: async () => {
      await Promise.all(named.map(({ handler }) => handler.checkUpstreams()));
    },
    async close() {
      await Promise.all(named.map(({ handler }) => handler.close()));
    },
  };
}
