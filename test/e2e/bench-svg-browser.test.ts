/**
 * The benchmark chart as a browser draws it (issue 17: "no clipped labels"): every text of the
 * SVG, measured by Chromium's layout (getBBox), lies inside the image, for the committed
 * reference run and for a run with every row. BENCH_SVG_SCREENSHOT=FILE.png also writes what
 * Chromium drew, to look at.
 */
import t from 'tap';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { renderSvg } from '../../bench/report-svg.js';
import { readResult } from '../../bench/results-writer.js';
import { CHROMIUM, chromiumSkipReason } from '../helpers/chromium.js';

const REFERENCE = fileURLToPath(new URL('../../bench/reference/', import.meta.url));

interface Overflow {
  readonly text: string;
  readonly box: string;
}

t.test('no label of the chart falls outside it, in Chromium', { skip: chromiumSkipReason() }, async (t) => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
  const runs = readdirSync(REFERENCE).filter((name) => /^\d{4}-\d\d-\d\dT[\d-]+Z\.json$/.test(name)).sort();
  t.ok(runs.length > 0, 'committed reference runs');
  for (const name of runs) {
    await page.setContent(`<!doctype html><body style="margin:0">${renderSvg(readResult(join(REFERENCE, name)))}</body>`);
    // Runs in the page; a string, since the tests compile without the DOM types.
    const overflows = await page.evaluate<Overflow[]>(`(() => {
      const svg = document.querySelector('svg');
      const { width, height } = svg.viewBox.baseVal;
      return [...document.querySelectorAll('text')].flatMap((element) => {
        const box = element.getBBox();
        const inside = box.x >= 0 && box.y >= 0 && box.x + box.width <= width && box.y + box.height <= height;
        return inside ? [] : [{ text: element.textContent, box: 'x ' + box.x.toFixed(0) + '…' + (box.x + box.width).toFixed(0) + ', y ' + box.y.toFixed(0) + ' of ' + width + '×' + height }];
      });
    })()`);
    t.same(overflows, [], `${name}: every label inside the image`);
    const screenshot = process.env['BENCH_SVG_SCREENSHOT'];
    if (screenshot !== undefined && name === runs[runs.length - 1]) await page.locator('svg').screenshot({ path: screenshot });
  }
});
