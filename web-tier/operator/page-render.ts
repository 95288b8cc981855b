/**
 * The status page's first paint without JavaScript (issue 17): the figures of one snapshot are
 * written into status.html on the server, in the elements status.js later updates live, so a
 * browser with scripts off, a screenshot taken at load, or `curl /-/status` already shows them.
 * Every value is escaped; the formats are status.js's (renderHeader, renderTraffic).
 */
import type { StatusSnapshot } from './status-data.js';

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char] as string);
}

function bytes(value: number): string {
  const mib = value / (1024 * 1024);
  return mib >= 1024 ? `${(mib / 1024).toFixed(2)} GiB` : `${mib.toFixed(1)} MiB`;
}

function duration(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

function ms(value: number | undefined): string {
  return typeof value === 'number' ? `${value.toFixed(value < 10 ? 2 : 0)} ms` : '–';
}

/** The text of each element by id, as status.js would set it from the same snapshot. */
export function firstPaintTexts(status: StatusSnapshot): Record<string, string> {
  const { web, traffic } = status;
  return {
    placement: status.placement.name,
    web: `web pid ${web.pid} · ${web.node} · up ${duration(web.uptimeSeconds)} · RSS ${bytes(web.rssBytes)} · event-loop p99 ${ms(web.eventLoopDelayMs.p99Ms)} · dynamic: ${web.dynamic}`,
    'in-flight': String(web.inFlight),
    rps: traffic.requestsPerSecond.toFixed(2),
    requests: String(traffic.requests),
    'error-rate': `${(traffic.errorRate * 100).toFixed(1)} %`,
  };
}

/** status.html with each element's placeholder text (`…`, `–`) replaced by the snapshot's figure. */
export function renderStatusHtml(template: string, status: StatusSnapshot): string {
  let html = template;
  for (const [id, value] of Object.entries(firstPaintTexts(status))) {
    html = html.replace(new RegExp(`(<(\\w+)[^>]* id="${id}"[^>]*>)[^<]*(</\\2>)`), (_match, open: string, _tag: string, close: string) => `${open}${escapeHtml(value)}${close}`);
  }
  return html;
}
