/**
 * A hand-written SVG chart of one run. First the chapter's question (issue 17): CGI vs embedded
 * vs persistent workers, on req/s (log scale: the rows are 1000× apart), CPU ms per request (log),
 * peak memory and p50/p99 latency; then the proxy hop; then every row's throughput and latency,
 * and the ratios against the references with their issue 8 targets. Plain
 * elements only (rect, text, line), so any browser and GitHub's markdown renderer show it
 * without scripts or a chart library.
 */
import { computeRatios, targetMet, type Ratio } from './ratios.js';
import { formatNumber, formatTarget } from './report-markdown.js';
import type { BenchResult, ScenarioResult } from './result-schema.js';

const WIDTH = 880;
/** Fits the longest row name (nginx-https-static-1k-new-conn) at 12 px. */
const LABEL_WIDTH = 200;
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
/** The ratio labels are longer than row names ("twotier ÷ nginx, proxy, same edge headers": 261 px in Chromium). */
const RATIO_LABEL_WIDTH = 290;
/** Leaves room right of the longest bar for "3.25× · below target". */
const RATIO_BAR_AREA = WIDTH - RATIO_LABEL_WIDTH - 150;
/** A band for the target label above each bar, then the bar. */
const RATIO_ROW = 34;
/** Ratios without a target that the panel shows anyway, after the targeted ones. */
const UNTARGETED_IN_PANEL: ReadonlySet<string> = new Set(['plain ÷ http-proxy engine', 'twotier ÷ nginx, WebSocket echo']);

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

/** The chapter's question, in the order a reader meets the models; rows the run lacks are left out. */
const MODEL_ROWS: readonly { readonly name: string; readonly label: string }[] = [
  { name: 'cgi-echo', label: 'CGI (Node + app per request)' },
  { name: 'cgi-shell', label: 'CGI (a shell per request)' },
  { name: 'embedded-echo', label: 'embedded in the web tier' },
  { name: 'proxy-echo-w1', label: 'persistent worker (proxied)' },
];
const HOP_ROWS: readonly { readonly name: string; readonly label: string }[] = [
  { name: 'direct-echo', label: 'app tier alone (no hop)' },
  { name: 'proxy-echo-w1', label: 'web tier → app tier' },
  { name: 'embedded-echo', label: 'app inside the web tier' },
];
/** Room for the longest model label at 12 px. */
const MODEL_LABEL_WIDTH = 230;
const MODEL_BAR_AREA = WIDTH - MODEL_LABEL_WIDTH - 130;
const MODEL_ROW = 20;

interface Metric {
  readonly title: string;
  readonly value: (row: ScenarioResult) => number;
  readonly format: (value: number) => string;
  readonly log: boolean;
  readonly colour: string;
}

function cpuMsPerRequest(row: ScenarioResult): number {
  return row.requests > 0 ? (row.cpuSeconds * 1000) / row.requests : 0;
}

/** Decades that hold every value: [10^floor(log10 min), 10^ceil(log10 max)]. */
function decades(values: readonly number[]): [number, number] {
  const positive = values.filter((value) => value > 0);
  if (positive.length === 0) return [1, 10];
  const low = 10 ** Math.floor(Math.log10(Math.min(...positive)));
  const high = 10 ** Math.ceil(Math.log10(Math.max(...positive)));
  return [low, high > low ? high : low * 10];
}

function decadeLabel(value: number): string {
  if (value >= 1000) return `${formatNumber(value / 1000, 0)}k`;
  return value >= 1 ? formatNumber(value, 0) : String(value);
}

/** One metric over the given rows: a title, a bar per row with its value, decade lines on a log scale. */
function metricBlock(rows: readonly { row: ScenarioResult; label: string }[], metric: Metric, top: number): Panel {
  const parts = [text(MARGIN, top + 14, metric.title, 'font-weight="bold" font-size="12"')];
  const values = rows.map(({ row }) => metric.value(row));
  const first = top + 22;
  let toWidth: (value: number) => number;
  if (metric.log) {
    const [low, high] = decades(values);
    const span = Math.log10(high / low);
    // A value below the lowest decade (a 0 ms p50) gets a sliver, not a negative bar.
    toWidth = (value) => (value <= low ? 2 : (Math.log10(value / low) / span) * MODEL_BAR_AREA);
    for (let decade = low; decade <= high * 1.0001; decade *= 10) {
      const x = Math.round(MODEL_LABEL_WIDTH + toWidth(decade === low ? low * 1.0000001 : decade)) + 0.5;
      parts.push(`<line x1="${x}" y1="${first}" x2="${x}" y2="${first + rows.length * MODEL_ROW}" stroke="#ddd"/>`);
      parts.push(text(x, first + rows.length * MODEL_ROW + 11, decadeLabel(decade), `text-anchor="middle" font-size="10" fill="${COLOURS.axis}"`));
    }
  } else {
    const max = Math.max(0, ...values);
    toWidth = (value) => (max > 0 ? (value / max) * MODEL_BAR_AREA : 0);
  }
  rows.forEach(({ row, label }, index) => {
    const y = first + index * MODEL_ROW;
    parts.push(text(MODEL_LABEL_WIDTH - 8, y + 13, label, 'text-anchor="end"'));
    const width = toWidth(metric.value(row));
    parts.push(bar(MODEL_LABEL_WIDTH, y + 3, width, MODEL_ROW - 6, metric.colour));
    parts.push(text(MODEL_LABEL_WIDTH + width + 6, y + 13, metric.format(metric.value(row))));
  });
  parts.push(`<line x1="${MODEL_LABEL_WIDTH - 0.5}" y1="${first}" x2="${MODEL_LABEL_WIDTH - 0.5}" y2="${first + rows.length * MODEL_ROW}" stroke="${COLOURS.axis}"/>`);
  return { parts, height: 22 + rows.length * MODEL_ROW + (metric.log ? 16 : 4) };
}

function pick(result: Pick<BenchResult, 'scenarios'>, wanted: readonly { name: string; label: string }[]): { row: ScenarioResult; label: string }[] {
  return wanted.flatMap(({ name, label }) => {
    const row = result.scenarios.find((candidate) => candidate.name === name && candidate.status === 'ok');
    return row === undefined ? [] : [{ row, label }];
  });
}

/** Stacks metric blocks under a heading; undefined when the run has fewer than two of the rows. */
function comparisonPanel(heading: string, rows: readonly { row: ScenarioResult; label: string }[], metrics: readonly Metric[], top: number): Panel | undefined {
  if (rows.length < 2) return undefined;
  const parts = [text(MARGIN, top + 14, heading, 'font-weight="bold" font-size="14"')];
  let y = top + 24;
  for (const metric of metrics) {
    const block = metricBlock(rows, metric, y);
    parts.push(...block.parts);
    y += block.height + 10;
  }
  return { parts, height: y - top };
}

const PER_SECOND: Metric = { title: 'Requests per second (log scale, higher is better)', value: (row) => row.rps, format: (value) => formatNumber(value), log: true, colour: '#2c5d8f' };
const CPU_PER_REQUEST: Metric = { title: 'CPU ms per request, all the row\'s processes (log scale, lower is better)', value: cpuMsPerRequest, format: (value) => formatNumber(value, value < 1 ? 3 : 1), log: true, colour: '#7a6fa0' };
const PEAK_MEMORY: Metric = { title: 'Peak memory, MiB over every process (lower is better)', value: (row) => row.peakRssMiB, format: (value) => formatNumber(value, 1), log: false, colour: '#8c6d46' };
const P50: Metric = { title: 'Latency p50, ms (log scale; "<1" under a millisecond)', value: (row) => row.latencyMs.p50, format: latencyLabel, log: true, colour: COLOURS.p50 };
const P99: Metric = { title: 'Latency p99, ms (log scale)', value: (row) => row.latencyMs.p99, format: latencyLabel, log: true, colour: COLOURS.p99 };

const KIB_PER_IDLE_CONNECTION: Metric = { title: 'KiB per idle connection, front server only (lower is better; issue 16: web tier ≤ 4× nginx)', value: (row) => Math.max(0, row.idle?.kibPerConnection ?? 0), format: (value) => formatNumber(value, 2), log: false, colour: '#8c6d46' };

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
    const met = targetMet(ratio);
    const fill = met === undefined ? RATIO_COLOURS.none : met ? RATIO_COLOURS.met : RATIO_COLOURS.below;
    const label = `${formatNumber(value, value < 10 ? 2 : 1)}×${met === undefined ? '' : met ? ' · met' : ' · below target'}`;
    parts.push(text(RATIO_LABEL_WIDTH - 8, y + 25, ratio.label, 'text-anchor="end"'));
    parts.push(bar(RATIO_LABEL_WIDTH, y + 14, end - RATIO_LABEL_WIDTH, 14, fill));
    let labelX = end + 6;
    if (ratio.target !== undefined) {
      const tickX = toX(ratio.target);
      parts.push(`<line x1="${tickX.toFixed(1)}" y1="${y + 11}" x2="${tickX.toFixed(1)}" y2="${y + 31}" stroke="${RATIO_COLOURS.tick}" stroke-width="2"/>`);
      parts.push(text(tickX, y + 9, formatTarget(ratio.target, ratio.atMost === true), 'text-anchor="middle" font-size="10"'));
      // A tick just right of the bar's end would cut through the value: start the value after it.
      if (tickX > end - 2 && tickX < end + 6 + textWidth(label, 12) + 4) labelX = tickX + 6;
    }
    parts.push(text(labelX, y + 25, label));
  });
  parts.push(`<line x1="${RATIO_LABEL_WIDTH - 0.5}" y1="${first}" x2="${RATIO_LABEL_WIDTH - 0.5}" y2="${last}" stroke="${COLOURS.axis}"/>`);
  return { parts, height: 24 + ratios.length * RATIO_ROW + 14 };
}

export function renderSvg(result: BenchResult): string {
  // Idle WebSocket rows (issue 16) have no throughput or latency: they get a panel of their own.
  const rows = result.scenarios.filter((row) => row.idle === undefined);
  const title = `twotier benchmark ${result.startedAt}: ${result.machine.cpuModel} × ${result.machine.cpuCount}, Node ${result.machine.node}, ${result.flags.connections} connections${(result.rounds?.length ?? 1) > 1 ? `, median of ${result.rounds?.length} rounds` : ''}`;
  const parts: string[] = [];
  let top = 30;
  const add = (panel: Panel | undefined, axis = false): void => {
    if (panel === undefined) return;
    parts.push(...panel.parts);
    if (axis) parts.push(`<line x1="${LABEL_WIDTH - 0.5}" y1="${top + 24}" x2="${LABEL_WIDTH - 0.5}" y2="${top + panel.height}" stroke="${COLOURS.axis}"/>`);
    top += panel.height + PANEL_GAP;
  };
  add(comparisonPanel('CGI vs embedded vs persistent workers: the same app, the same request', pick(result, MODEL_ROWS), [PER_SECOND, CPU_PER_REQUEST, PEAK_MEMORY, P50, P99], top));
  add(comparisonPanel('The proxy hop: the app alone, behind the web tier, inside it', pick(result, HOP_ROWS), [PER_SECOND, CPU_PER_REQUEST], top));
  add(throughputPanel(rows, top), true);
  add(latencyPanel(rows, top), true);
  add(comparisonPanel('Idle WebSocket connections: the front server\'s RSS growth per connection', result.scenarios.filter((row) => row.status === 'ok' && row.idle !== undefined).map((row) => ({ row, label: row.name })), [KIB_PER_IDLE_CONNECTION], top));
  add(ratioPanel(panelRatios(result), top));
  const height = top - PANEL_GAP + 16;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, sans-serif" font-size="12" fill="${COLOURS.text}">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    text(MARGIN, 18, title, 'font-size="13"'),
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
