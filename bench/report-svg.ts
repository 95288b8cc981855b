/**
 * A hand-written SVG chart of one run: horizontal bars for throughput, then paired bars for
 * latency p50/p99, then the ratios against the references with their issue 8 targets. Plain
 * elements only (rect, text, line), so any browser and GitHub's markdown renderer show it
 * without scripts or a chart library.
 */
import { computeRatios, type Ratio } from './ratios.js';
import { formatNumber, formatTarget } from './report-markdown.js';
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
/**
 * Ratio bars by target: bluish green met, vermillion below, muted purple without a target
 * (Okabe-Ito-like hues: the three stay apart under protanopia, deuteranopia and tritanopia,
 * each at least 3:1 against white). The value label repeats met/below in words besides.
 */
const RATIO_COLOURS = { met: '#1b9e77', below: '#d55e00', none: '#7a6fa0', tick: '#222', parity: '#bbb' } as const;
/** The ratio labels are longer than row names ("twotier ÷ nginx, static 100 KiB"). */
const RATIO_LABEL_WIDTH = 250;
/** Leaves room right of the longest bar for "3.25× · below target". */
const RATIO_BAR_AREA = WIDTH - RATIO_LABEL_WIDTH - 150;
/** A band for the target label above each bar, then the bar. */
const RATIO_ROW = 34;
/** Ratios without a target that the panel shows anyway, after the targeted ones. */
const UNTARGETED_IN_PANEL: ReadonlySet<string> = new Set(['plain ÷ http-proxy engine']);

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

/** Good enough for placing a label clear of a tick: system-ui digits and letters average ~0.6 em. */
function textWidth(content: string, fontSize: number): number {
  return content.length * fontSize * 0.6;
}

/** The ratios the panel draws: those with a target, then the listed untargeted ones; rows the run lacks are left out. */
function panelRatios(result: Pick<BenchResult, 'scenarios'>): Ratio[] {
  const drawn = computeRatios(result).filter((ratio) => ratio.value !== null && (ratio.target !== undefined || UNTARGETED_IN_PANEL.has(ratio.label)));
  return [...drawn.filter((ratio) => ratio.target !== undefined), ...drawn.filter((ratio) => ratio.target === undefined)];
}

/** Horizontal bars of the reference ratios, a tick at each target; undefined when no such ratio was measured. */
function ratioPanel(ratios: readonly Ratio[], top: number): Panel | undefined {
  if (ratios.length === 0) return undefined;
  const legendY = top + 14;
  const parts = [
    text(MARGIN, legendY, 'Ratios against the references (issue 8 targets)', 'font-weight="bold"'),
    bar(390, top + 4, 12, 12, RATIO_COLOURS.met),
    text(408, legendY, 'target met'),
    bar(490, top + 4, 12, 12, RATIO_COLOURS.below),
    text(508, legendY, 'below target'),
    bar(600, top + 4, 12, 12, RATIO_COLOURS.none),
    text(618, legendY, 'no target'),
    `<line x1="696" y1="${top + 2}" x2="696" y2="${top + 17}" stroke="${RATIO_COLOURS.tick}" stroke-width="2"/>`,
    text(703, legendY, 'target'),
  ];
  const max = Math.max(1, ...ratios.map((ratio) => Math.max(ratio.value ?? 0, ratio.target ?? 0)));
  const toX = (value: number): number => RATIO_LABEL_WIDTH + (value / max) * RATIO_BAR_AREA;
  const first = top + 24;
  const last = first + ratios.length * RATIO_ROW;
  const parityX = Math.round(toX(1)) + 0.5;
  parts.push(
    `<line x1="${parityX}" y1="${first}" x2="${parityX}" y2="${last}" stroke="${RATIO_COLOURS.parity}" stroke-dasharray="3 3"/>`,
    text(parityX, last + 12, '1×', `text-anchor="middle" font-size="10" fill="${COLOURS.axis}"`),
  );
  ratios.forEach((ratio, index) => {
    const value = ratio.value ?? 0;
    const y = first + index * RATIO_ROW;
    const end = toX(value);
    const met = ratio.target === undefined ? undefined : value >= ratio.target;
    const fill = met === undefined ? RATIO_COLOURS.none : met ? RATIO_COLOURS.met : RATIO_COLOURS.below;
    const label = `${formatNumber(value, value < 10 ? 2 : 1)}×${met === undefined ? '' : met ? ' · met' : ' · below target'}`;
    parts.push(text(RATIO_LABEL_WIDTH - 8, y + 25, ratio.label, 'text-anchor="end"'));
    parts.push(bar(RATIO_LABEL_WIDTH, y + 14, end - RATIO_LABEL_WIDTH, 14, fill));
    let labelX = end + 6;
    if (ratio.target !== undefined) {
      const tickX = toX(ratio.target);
      parts.push(`<line x1="${tickX.toFixed(1)}" y1="${y + 11}" x2="${tickX.toFixed(1)}" y2="${y + 31}" stroke="${RATIO_COLOURS.tick}" stroke-width="2"/>`);
      parts.push(text(tickX, y + 9, formatTarget(ratio.target), 'text-anchor="middle" font-size="10"'));
      // A tick just right of the bar's end would cut through the value: start the value after it.
      if (tickX > end - 2 && tickX < end + 6 + textWidth(label, 12) + 4) labelX = tickX + 6;
    }
    parts.push(text(labelX, y + 25, label));
  });
  parts.push(`<line x1="${RATIO_LABEL_WIDTH - 0.5}" y1="${first}" x2="${RATIO_LABEL_WIDTH - 0.5}" y2="${last}" stroke="${COLOURS.axis}"/>`);
  return { parts, height: 24 + ratios.length * RATIO_ROW + 14 };
}

export function renderSvg(result: BenchResult): string {
  const rows = result.scenarios;
  const title = `twotier benchmark ${result.startedAt}: ${result.machine.cpuModel} × ${result.machine.cpuCount}, Node ${result.machine.node}, ${result.flags.connections} connections`;
  const first = throughputPanel(rows, 30);
  const second = latencyPanel(rows, 30 + first.height + PANEL_GAP);
  const thirdTop = 30 + first.height + PANEL_GAP + second.height + PANEL_GAP;
  const third = ratioPanel(panelRatios(result), thirdTop);
  const height = third === undefined ? 30 + first.height + PANEL_GAP + second.height + 16 : thirdTop + third.height + 16;
  const secondBottom = 30 + first.height + PANEL_GAP + second.height;
  const axisX = LABEL_WIDTH - 0.5;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, sans-serif" font-size="12" fill="${COLOURS.text}">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    text(MARGIN, 18, title, 'font-size="13"'),
    ...first.parts,
    `<line x1="${axisX}" y1="${54}" x2="${axisX}" y2="${30 + first.height}" stroke="${COLOURS.axis}"/>`,
    ...second.parts,
    `<line x1="${axisX}" y1="${30 + first.height + PANEL_GAP + 24}" x2="${axisX}" y2="${secondBottom}" stroke="${COLOURS.axis}"/>`,
    ...(third?.parts ?? []),
    '</svg>',
    '',
  ].join('\n');
}
