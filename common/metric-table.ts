/**
 * Metrics declared as data. A tier lists its metrics as one table of rows (name, type, help,
 * labels, source) and `registerMetricTable` turns each row into a prom-client object on the
 * tier's own registry. A row's `source` is read at scrape time: the tier keeps plain numbers
 * (cheap on the request path) and the table says how they become series.
 *
 * prom-client is passed in rather than imported, so a tier can load it (~10 MiB) only when it
 * is first scraped (the web tier does).
 */
import type { Counter, Gauge, Metric, Registry } from 'prom-client';

export type Labels = Readonly<Record<string, string>>;

/** One series: its label values and its value now. */
export type Sample = readonly [labels: Labels, value: number];

/** One label set of a histogram: observations per bucket (not cumulative), the last slot +Inf. */
export interface HistogramSeries {
  readonly labels: Labels;
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

interface Row {
  /** The full metric name, as it appears in the exposition (and in README). */
  readonly name: string;
  readonly help: string;
  /** Label names, in the order the exposition lists them. */
  readonly labels?: readonly string[];
}

/**
 * A counter or gauge read at scrape time. A number is the value of the series without labels;
 * samples replace every series (a series the source no longer yields disappears). A counter's
 * source gives its running total: whoever counts keeps it, the table only exposes it.
 */
export interface ScalarRow extends Row {
  readonly type: 'counter' | 'gauge';
  readonly source: () => number | Iterable<Sample>;
}

/** A histogram kept as plain arrays (see observeHistogram), exposed as prom-client would expose a Histogram. */
export interface HistogramRow extends Row {
  readonly type: 'histogram';
  /** Upper bounds in seconds, ascending; +Inf is implied. */
  readonly buckets: readonly number[];
  readonly source: () => Iterable<HistogramSeries>;
}

export type MetricRow = ScalarRow | HistogramRow;

export type PromClient = Pick<typeof import('prom-client'), 'Counter' | 'Gauge'>;

/** A new label set's series, ready for observeHistogram. */
export function createHistogramSeries(labels: Labels, buckets: readonly number[]): HistogramSeries {
  return { labels, counts: new Float64Array(buckets.length + 1), sum: 0, count: 0 };
}

/**
 * One observation: a bucket search and three additions. prom-client's Histogram hashes its
 * labels on every observe, a few percent of a static request's CPU (issue 8).
 */
export function observeHistogram(series: HistogramSeries, buckets: readonly number[], value: number): void {
  let index = 0;
  while (index < buckets.length && value > (buckets[index] as number)) index += 1;
  series.counts[index] = (series.counts[index] ?? 0) + 1;
  series.sum += value;
  series.count += 1;
}

/** Registers one prom-client object per row, in table order (the exposition keeps it). */
export function registerMetricTable(prom: PromClient, registry: Registry, table: readonly MetricRow[]): void {
  for (const row of table) {
    if (row.type === 'histogram') registry.registerMetric(histogramMetric(row));
    else if (row.type === 'counter') new prom.Counter(scalarConfig(row, registry, (metric, labels, value) => (metric as Counter).inc(labels, value)));
    else new prom.Gauge(scalarConfig(row, registry, (metric, labels, value) => (metric as Gauge).set(labels, value)));
  }
}

type Put = (metric: Counter | Gauge, labels: Labels, value: number) => void;

function scalarConfig(row: ScalarRow, registry: Registry, put: Put) {
  const { source } = row;
  return {
    name: row.name,
    help: row.help,
    labelNames: row.labels ?? [],
    registers: [registry],
    collect(this: Counter | Gauge): void {
      // A counter can only be set by reset + inc; a gauge is reset too, so a label set the
      // source dropped (an upstream taken out of the list) leaves the exposition.
      this.reset();
      const value = source();
      if (typeof value === 'number') put(this, {}, value);
      else for (const [labels, sample] of value) put(this, labels, sample);
    },
  };
}

/** The object a Registry needs from a metric (name, help, type, aggregator, get, reset). */
function histogramMetric(row: HistogramRow): Metric {
  const { name, help, buckets, source } = row;
  const values = (): { labels: Record<string, string | number>; value: number; metricName: string }[] => {
    const out: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const series of source()) {
      let cumulative = 0;
      series.counts.forEach((count, index) => {
        cumulative += count;
        out.push({ labels: { le: buckets[index] ?? '+Inf', ...series.labels }, value: cumulative, metricName: `${name}_bucket` });
      });
      out.push({ labels: { ...series.labels }, value: series.sum, metricName: `${name}_sum` });
      out.push({ labels: { ...series.labels }, value: series.count, metricName: `${name}_count` });
    }
    return out;
  };
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get: async () => ({ name, help, type: 'histogram', aggregator: 'sum', values: values() }),
    reset: () => undefined,
  };
  return metric as unknown as Metric;
}
