/** The human-readable report of one run: a header naming the machine, the table, the ratios. */
import { computeRatios, cpuMsPerRequest } from './ratios.js';
import type { BenchResult, ScenarioResult } from './result-schema.js';

/** Markdown table cells: a "|" would split the cell, a newline would end the row. */
function cell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

export function formatNumber(value: number, digits = 0): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** An issue 8 target, a floor the ratio should reach: "≥ 0.6×", "≥ 3×"; or a ceiling (issue 16's memory): "≤ 4×". */
export function formatTarget(target: number, atMost = false): string {
  return `${atMost ? '≤' : '≥'} ${target.toLocaleString('en-US', { maximumFractionDigits: 2 })}×`;
}

function formatMs(value: number): string {
  return value < 10 ? formatNumber(value, 1) : formatNumber(value, 0);
}

function row(scenario: ScenarioResult): string {
  if (scenario.status !== 'ok') {
    const what = `${scenario.status}: ${scenario.reason ?? 'no reason given'}`;
    return `| ${cell(scenario.name)} | ${cell(what)} | | | | | | | | | | | |`;
  }
  if (scenario.idle !== undefined) {
    // Idle WebSocket rows (issue 16) carry no throughput: their figures are in the idle table below.
    const what = `idle: ${formatNumber(scenario.idle.held)} held, ${formatNumber(scenario.idle.kibPerConnection, 2)} KiB/conn`;
    return `| ${cell(scenario.name)} | ${cell(what)} | | | | | ${scenario.errors} | 0 | | ${formatNumber(scenario.peakRssMiB, 1)} | ${scenario.peakProcesses} | ${formatNumber(scenario.cpuSeconds, 2)} | |`;
  }
  const perRequest = cpuMsPerRequest(scenario);
  return [
    '',
    cell(scenario.name),
    formatNumber(scenario.rps),
    formatMs(scenario.latencyMs.p50),
    formatMs(scenario.latencyMs.p90),
    formatMs(scenario.latencyMs.p99),
    formatMs(scenario.latencyMs.max),
    String(scenario.errors),
    String(scenario.non2xx),
    formatNumber(scenario.bytesPerSec / (1024 * 1024), 2),
    formatNumber(scenario.peakRssMiB, 1),
    String(scenario.peakProcesses),
    formatNumber(scenario.cpuSeconds, 2),
    perRequest === null ? 'n/a' : formatNumber(perRequest, 3),
    '',
  ].join(' | ').trim();
}

/** Issue 16's idle WebSocket rows: connections held through the front server and its RSS growth per connection. */
export function idleTable(scenarios: readonly ScenarioResult[]): string[] {
  const idle = scenarios.filter((scenario) => scenario.status === 'ok' && scenario.idle !== undefined);
  if (idle.length === 0) return [];
  return [
    '## Idle WebSocket connections',
    '',
    '| Scenario | asked | held | failed | front RSS before MiB | after MiB | KiB per connection |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...idle.map((scenario) => {
      const figures = scenario.idle as NonNullable<ScenarioResult['idle']>;
      return `| ${cell(scenario.name)} | ${formatNumber(figures.requested)} | ${formatNumber(figures.held)} | ${formatNumber(figures.failed)} | ${formatNumber(figures.baselineRssKiB / 1024, 1)} | ${formatNumber(figures.loadedRssKiB / 1024, 1)} | ${formatNumber(figures.kibPerConnection, 2)} |`;
    }),
    '',
    'The front server alone (the web tier, or nginx\'s master and worker), not the upstream: RSS from /proc before the',
    'connections opened and 1 s after the last one did, divided by the connections held.',
    '',
  ];
}

export interface MarkdownOptions {
  /** File name of the chart beside the report, embedded when given. */
  readonly svgFile?: string;
}

export function renderMarkdown(result: BenchResult, options: MarkdownOptions = {}): string {
  const { machine, flags, pinning } = result;
  const rounds = result.rounds?.length ?? 1;
  const lines: string[] = [
    `# twotier benchmark, ${result.startedAt}`,
    '',
    `- Machine: ${cell(machine.cpuModel)} × ${machine.cpuCount} CPUs, ${formatNumber(machine.totalMemMiB)} MiB, ${machine.platform}, load average ${formatNumber(machine.loadAverage1m, 2)} at the start`,
    `- Node ${machine.node}, commit \`${result.commit}\``,
    `- Load: ${flags.connections} connections, pipelining ${flags.pipelining}, ${flags.durationSec} s measured after ${flags.warmupSec} s warm-up${flags.quick ? ' (quick run: a smoke check, not a measurement)' : ''}`,
    pinning.servers === null
      ? '- Pinning: none (servers and load generator share every core)'
      : `- Pinning (${pinning.tool ?? 'taskset'}): servers on CPU ${pinning.servers}, load generator on CPU ${pinning.loadGenerator ?? '?'}` +
        (/^\d+$/.test(pinning.servers) ? ' (all servers share one core: the wN rows show what extra worker processes cost there, not what extra cores give; `--no-pin` lets them spread)' : ''),
    ...(rounds > 1 ? [`- Rounds: ${rounds}, the scenarios run in turn (A B … A B …); each row below is its scenario's median round by req/s, each ratio the median of the ratios within each round (every round's value in the last column)`] : []),
    '',
    '| Scenario | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | non-2xx | MiB/s | peak RSS MiB | procs | CPU s | CPU ms/req |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...result.scenarios.map(row),
    '',
    ...result.scenarios.map((scenario) => `- **${cell(scenario.name)}**: ${cell(scenario.description)}`),
    '',
    'Peak RSS and CPU cover every process the scenario started and their descendants (app workers, live CGI',
    'children), sampled every 100 ms from /proc; CPU time of CGI children that finished is included through',
    'the parent\'s reaped-children time.',
    '',
    ...idleTable(result.scenarios),
    '## Ratios',
    '',
    rounds > 1 ? '| Ratio | Rows | Value (median) | Target | What it says | Each round |' : '| Ratio | Rows | Value | Target | What it says |',
    rounds > 1 ? '| --- | --- | ---: | ---: | --- | --- |' : '| --- | --- | ---: | ---: | --- |',
  ];
  const times = (value: number): string => `${formatNumber(value, value < 10 ? 2 : 1)}×`;
  for (const ratio of computeRatios(result)) {
    const metric = ratio.metric === 'rps' ? 'req/s' : ratio.metric === 'peakRssMiB' ? 'peak RSS' : ratio.metric === 'kibPerConnection' ? 'KiB per idle connection' : 'CPU ms/req';
    const value = ratio.value === null ? 'n/a' : times(ratio.value);
    const target = ratio.target === undefined ? '' : ` ${formatTarget(ratio.target, ratio.atMost === true)}`;
    const each = ratio.rounds === undefined ? '' : ` ${ratio.rounds.map((one) => (one === null ? 'n/a' : times(one))).join(', ')} |`;
    lines.push(`| ${cell(ratio.label)} | ${cell(`${ratio.numerator} ÷ ${ratio.denominator} (${metric})`)} | ${value} |${target} | ${cell(ratio.meaning)} |${each}`);
  }
  if (options.svgFile !== undefined) {
    lines.push('', `![Throughput and latency per scenario](${options.svgFile})`);
  }
  lines.push('');
  return lines.join('\n');
}

/** The final summary a person sees in the terminal: one aligned row per scenario. */
export function renderTerminalSummary(result: BenchResult): string {
  const header = ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'non-2xx', 'peak RSS MiB', 'status'];
  const rows = result.scenarios.map((scenario) =>
    scenario.status === 'ok'
      ? [scenario.name, formatNumber(scenario.rps), formatMs(scenario.latencyMs.p50), formatMs(scenario.latencyMs.p99), String(scenario.errors), String(scenario.non2xx), formatNumber(scenario.peakRssMiB, 1), 'ok']
      : [scenario.name, '', '', '', '', '', '', `${scenario.status}: ${scenario.reason ?? ''}`],
  );
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((cells) => (cells[column] ?? '').length)));
  // Numbers right-aligned, names and status left-aligned, like a table in a terminal should be.
  const line = (cells: readonly string[]): string =>
    cells.map((text, column) => (column === 0 || column === cells.length - 1 ? text.padEnd(widths[column] ?? 0) : text.padStart(widths[column] ?? 0))).join('  ').trimEnd();
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n') + '\n';
}
