/**
 * The start-up banner `npm start` prints on stderr for a person: where the site, the status
 * page and the metrics are, which placement, how many workers, which database (password
 * never shown). Pure: the launcher passes what it learned from the tiers' "listening" lines.
 */
import { redactDatabaseUrl } from '../app-tier/store/database-url.js';

export interface BannerFacts {
  readonly placement: string;
  /** The site's base URL, when the web tier runs here. */
  readonly webUrl?: string | undefined;
  /** The app tier's base URL, when it runs here. */
  readonly appUrl?: string | undefined;
  /** Where this web tier forwards to (its own app, or other boxes). */
  readonly upstreams: readonly string[];
  readonly workers?: number | undefined;
  readonly databaseUrl?: string | undefined;
}

export function formatBanner(facts: BannerFacts): string {
  const rows: Array<[string, string]> = [];
  if (facts.webUrl !== undefined) {
    rows.push(['site', `${facts.webUrl}/`]);
    rows.push(['status page', `${facts.webUrl}/-/status`]);
    rows.push(['web metrics', `${facts.webUrl}/-/metrics`]);
    rows.push(['forwards to', facts.upstreams.join(', ')]);
  }
  if (facts.appUrl !== undefined) {
    rows.push(['app tier', facts.appUrl]);
    rows.push(['app metrics', `${facts.appUrl}/metrics (cluster aggregate)`]);
  }
  rows.push(['placement', facts.placement]);
  if (facts.workers !== undefined) rows.push(['app workers', String(facts.workers)]);
  if (facts.databaseUrl !== undefined) rows.push(['database', redactDatabaseUrl(facts.databaseUrl)]);
  const width = Math.max(...rows.map(([name]) => name.length));
  return ['twotier is up', ...rows.map(([name, value]) => `  ${name.padEnd(width)}  ${value}`), '  Ctrl-C stops everything'].join('\n');
}
