/**
 * A hand-written SVG chart of one run: horizontal bars for throughput, then paired bars for
 * latency p50/p99. Plain elements only (rect, text, line), so any browser and GitHub's
 * markdown renderer show it without scripts or a chart library.
 */
import { formatNumber } from './report-markdown.js';
import type { BenchResult, ScenarioResult } from './result-schema.js';

const WIDTH = 880;
/** Fits the longest row name (proxy-echo-w1-http-proxy) at 12 px. */
const LABEL_WIDTH = 190;
const VALUE_WIDTH = 110;
const BAR_AREA = WIDTH - LABEL_WIDTH - VALUE_WIDTH - 20;
const ROW = 22;
const PANEL_GAP = 46;
/** Titles and the heading stand off the image's left edge (they touched it before). */
const MARGIN = 12;
const COLOURS = { rps: '#3b6ea5', nginx: '#8a96a3', p50: '#5aa36f', p99: '#d0803a', axis: '#888', text: '#222' } as const;

/** Servers that are not twotier, by row-name prefix: nginx and sirv rows. */
const REFERENCES = ['nginx', 'sirv'] as const;

function referenceOf(row: ScenarioResult): string | undefined {
  return REFERENCES.find((name) => row.name.startsWith(`${name}-`));
}

/** nginx and sirv rows are the yardsticks, not twotier: a grey bar tells them apart at a glance. */
function rpsColour(row: ScenarioResult): string {
  return referenceOf(row) === undefined ? COLOURS.rps : COLOURS.nginx;
}

/** autocannon reports whole milliseconds: a 0 means "under 1 ms", not "0.0". */
function latencyLabel(ms: number): string {
  return ms < 1 ? '<1' : formatNumber(ms, 1);
}

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[char] as string);
}

function text(x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}"${attrs === '' ? '' : ` ${attrs}`}>${escapeXml(content)}</text>`;
}

function bar(x: number, y: number, width: number, height: number, fill: string): string {
  return `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(0, width).toFixed(1)}" height="${height}" fill="${fill}"/>`;
}

function scale(max: number): (value: number) => number {
  return (value) => (max > 0 ? (value / max) * BAR_AREA : 0);
}

interface Panel {
  readonly parts: string[];
  readonly height: number;
}

function throughputPanel(rows: readonly ScenarioResult[], top: number): Panel {
  const parts = [text(MARGIN, top + 14, 'Throughput (requests/s, higher is better)', 'font-weight="bold"')];
  const references = REFERENCES.filter((name) => rows.some((row) => row.status === 'ok' && referenceOf(row) === name));
  if (references.length > 0) {
    parts.push(bar(LABEL_WIDTH + 300, top + 4, 12, 12, COLOURS.rps), text(LABEL_WIDTH + 318, top + 14, 'twotier'));
    parts.push(bar(LABEL_WIDTH + 380, top + 4, 12, 12, COLOURS.nginx), text(LABEL_WIDTH + 398, top + 14, references.join(', ')));
  }
  const toWidth = scale(Math.max(0, ...rows.map((row) => row.rps)));
  rows.forEach((row, index) => {
    const y = top + 24 + index * ROW;
    parts.push(text(LABEL_WIDTH - 8, y + 14, row.name, 'text-anchor="end"'));
    if (row.status !== 'ok') {
      parts.push(text(LABEL_WIDTH, y + 14, row.status, `fill="${COLOURS.axis}" font-style="italic"`));
      return;
    }
    const width = toWidth(row.rps);
    parts.push(bar(LABEL_WIDTH, y + 3, width, ROW - 6, rpsColour(row)));
    parts.push(text(LABEL_WIDTH + width + 6, y + 14, formatNumber(row.rps)));
  });
  return { parts, height: 24 + rows.length * ROW };
}

function latencyPanel(rows: readonly ScenarioResult[], top: number): Panel {
  const parts = [
    text(MARGIN, top + 14, 'Latency (ms, lower is better)', 'font-weight="bold"'),
    bar(LABEL_WIDTH + 220, top + 4, 12, 12, COLOURS.p50),
    text(LABEL_WIDTH + 238, top + 14, 'p50'),
    bar(LABEL_WIDTH + 280, top + 4, 12, 12, COLOURS.p99),
    text(LABEL_WIDTH + 298, top + 14, 'p99'),
  ];
  const toWidth = scale(Math.max(0, ...rows.filter((row) => row.status === 'ok').map((row) => row.latencyMs.p99)));
  const pair = ROW + 8;
  rows.forEach((row, index) => {
    const y = top + 24 + index * pair;
    parts.push(text(LABEL_WIDTH - 8, y + 17, row.name, 'text-anchor="end"'));
    if (row.status !== 'ok') {
      parts.push(text(LABEL_WIDTH, y + 17, row.status, `fill="${COLOURS.axis}" font-style="italic"`));
      return;
    }
    const p50 = toWidth(row.latencyMs.p50);
    const p99 = toWidth(row.latencyMs.p99);
    parts.push(bar(LABEL_WIDTH, y + 2, p50, 12, COLOURS.p50), text(LABEL_WIDTH + p50 + 6, y + 12, latencyLabel(row.latencyMs.p50), 'font-size="10"'));
    parts.push(bar(LABEL_WIDTH, y + 15, p99, 12, COLOURS.p99), text(LABEL_WIDTH + p99 + 6, y + 25, latencyLabel(row.latencyMs.p99), 'font-size="10"'));
  });
  return { parts, height: 24 + rows.length * pair };
}

export function renderSvg(result: BenchResult): string {
  const rows = result.scenarios;
  const title = `twotier benchmark ${result.startedAt}: ${result.machine.cpuModel} × ${result.machine.cpuCount}, Node ${result.machine.node}, ${result.flags.connections} connections`;
  const first = throughputPanel(rows, 30);
  const second = latencyPanel(rows, 30 + first.height + PANEL_GAP);
  const height = 30 + first.height + PANEL_GAP + second.height + 16;
  const axisX = LABEL_WIDTH - 0.5;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, sans-serif" font-size="12" fill="${COLOURS.text}">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    text(MARGIN, 18, title, 'font-size="13"'),
    ...first.parts,
    `<line x1="${axisX}" y1="${54}" x2="${axisX}" y2="${30 + first.height}" stroke="${COLOURS.axis}"/>`,
    ...second.parts,
    `<line x1="${axisX}" y1="${30 + first.height + PANEL_GAP + 24}" x2="${axisX}" y2="${height - 16}" stroke="${COLOURS.axis}"/>`,
    '</svg>',
    '',
  ].join('\n');
}
