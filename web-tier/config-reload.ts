/**
 * What a reload (SIGHUP, POST /-/reload) may change in a running server, decided by whole
 * sections: a section built once at start-up (the static handler, the app run here) keeps its
 * old value and is reported as needing a restart; a live section (limits, proxy, operator) is
 * taken whole; two sections mix both, and name the keys read only at start-up.
 */
import type { WebConfig, WebConfigSection } from './config.js';

type RestartRule<Section> = 'whole section' | readonly (keyof Section)[];

const READ_AT_START: { readonly [S in WebConfigSection]: RestartRule<WebConfig[S]> } = {
  // The listening socket, the cluster and the mode are set up once; logLevel is applied by main.
  server: ['host', 'port', 'workers', 'dynamic', 'dynamicPrefixes'],
  limits: [],
  // The static handler (root, caches, rules) is built once.
  static: 'whole section',
  // A new proxy is built from the new section (the upstream pool lives in it).
  proxy: [],
  // WEB_ROUTES: a list, taken whole; the groups are rebuilt with the proxy (route-handlers.ts).
  routes: [],
  // Whether the gateway runs and where its scripts are is fixed at start; its bounds are live.
  cgi: ['enabled', 'dir'],
  operator: [],
  // The embedded app and cgi-bin/app are given these once.
  app: 'whole section',
  // The HTTPS listener, the local CA and the ACME client are set up once; certificate files, redirect and HSTS are live.
  tls: ['mode', 'port', 'dir', 'leafLifetimeHours', 'ticketKeyRotateSec', 'acmeDirectory', 'acmeEmail', 'acmeRenewBeforeDays', 'acmeRetryMinMs', 'acmeRetryMaxMs'],
};

export interface ReloadPlan {
  /** The config to run with: `next`, except what needs a restart, which keeps its old value. */
  readonly config: WebConfig;
  /** Dotted paths ("proxy.upstreams") whose new values are in use. */
  readonly applied: readonly string[];
  /** Dotted paths that changed but are read only at start-up (kept at their old values). */
  readonly needRestart: readonly string[];
}

/** The dotted paths of the settings that differ; nested groups (proxy.retryBudget) are descended, lists compared whole. */
function changedPaths(before: unknown, after: unknown, prefix: string): string[] {
  const isGroup = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
  if (!isGroup(before) || !isGroup(after)) return JSON.stringify(before) === JSON.stringify(after) ? [] : [prefix];
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].flatMap((key) => changedPaths(before[key], after[key], prefix === '' ? key : `${prefix}.${key}`));
}

export function planReload(previous: WebConfig, next: WebConfig): ReloadPlan {
  const applied: string[] = [];
  const needRestart: string[] = [];
  const sections = {} as Record<WebConfigSection, unknown>;
  for (const section of Object.keys(READ_AT_START) as WebConfigSection[]) {
    const rule: RestartRule<Record<string, unknown>> = READ_AT_START[section] as RestartRule<Record<string, unknown>>;
    const before = previous[section] as Readonly<Record<string, unknown>>;
    const after = next[section] as Readonly<Record<string, unknown>>;
    const changed = changedPaths(before, after, section);
    const restart = (path: string): boolean => rule === 'whole section' || rule.includes(path.split('.')[1] ?? '');
    applied.push(...changed.filter((path) => !restart(path)));
    needRestart.push(...changed.filter(restart));
    if (rule === 'whole section') sections[section] = changed.length === 0 ? after : before;
    else if (Array.isArray(after)) sections[section] = after;
    else sections[section] = Object.freeze({ ...after, ...Object.fromEntries(rule.map((key) => [key, before[key]])) });
  }
  return { config: Object.freeze(sections) as WebConfig, applied, needRestart };
}
