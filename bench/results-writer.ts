/** Writes a run as `<timestamp>.{json,md,svg}` and `latest.{json,md,svg}`, and reads one back. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { computeRatios } from './ratios.js';
import { renderMarkdown } from './report-markdown.js';
import { renderSvg } from './report-svg.js';
import { benchResultSchema, type BenchResult } from './result-schema.js';

/** "2026-11-25T11:42:01.123Z" → "2026-11-25T11-42-01Z": sortable and legal in every file system. */
export function resultStamp(startedAt: string): string {
  return startedAt.replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
}

export interface WrittenFiles {
  readonly json: string;
  readonly markdown: string;
  readonly svg: string;
}

/** The JSON text of a run: the result, and its ratios (issue 8: "writes the ratios to the bench JSON and report"). */
export function resultJson(result: BenchResult): string {
  return `${JSON.stringify({ ...result, ratios: computeRatios(result) }, null, 2)}\n`;
}

/** Writes `<base>.json` (unless `withJson` is false), `<base>.md` and `<base>.svg` into `dir`. */
export function writeReportFiles(result: BenchResult, dir: string, base: string, withJson = true): WrittenFiles {
  mkdirSync(dir, { recursive: true });
  const files = { json: join(dir, `${base}.json`), markdown: join(dir, `${base}.md`), svg: join(dir, `${base}.svg`) };
  if (withJson) writeFileSync(files.json, resultJson(result));
  writeFileSync(files.markdown, renderMarkdown(result, { svgFile: `${base}.svg` }));
  writeFileSync(files.svg, renderSvg(result));
  return files;
}

/** The timestamped files and the `latest.*` copies. */
export function writeResults(result: BenchResult, dir: string): { run: WrittenFiles; latest: WrittenFiles } {
  const run = writeReportFiles(result, dir, resultStamp(result.startedAt));
  const latest = writeReportFiles(result, dir, 'latest');
  return { run, latest };
}

/** Reads and validates a results JSON; the error names the file and the first bad field. */
export function readResult(file: string): BenchResult {
  const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
  const checked = benchResultSchema.safeParse(parsed);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new Error(`${file}: ${issue === undefined ? 'invalid' : `${issue.path.join('.')}: ${issue.message}`}`, { cause: checked.error });
  }
  return checked.data;
}
