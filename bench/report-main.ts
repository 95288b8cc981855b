/**
 * Entry point of `npm run bench:report`: re-renders the markdown and SVG of a results JSON
 * (default bench/results/latest.json) without running anything, e.g. after a report change.
 */
import { basename, dirname, resolve } from 'node:path';
import { repoRoot } from './environment.js';
import { readResult, writeReportFiles } from './results-writer.js';

function main(): void {
  const args = process.argv.slice(2);
  if (args.length > 1 || args[0]?.startsWith('--') === true) {
    process.stderr.write('Usage: npm run bench:report [-- RESULTS.json]   (default bench/results/latest.json)\n');
    process.exitCode = 1;
    return;
  }
  const file = resolve(args[0] ?? resolve(repoRoot(), 'bench', 'results', 'latest.json'));
  const result = readResult(file);
  const files = writeReportFiles(result, dirname(file), basename(file, '.json'), false);
  process.stdout.write(`${files.markdown}\n${files.svg}\n`);
}

try {
  main();
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
