/**
 * The status page shows its figures without JavaScript on first paint (issue 17): GET /-/status
 * is status.html with the snapshot's values already in it; status.js then keeps them live.
 */
import t from 'tap';
import { renderStatusHtml } from '../../../web-tier/operator/page-render.js';
import type { StatusSnapshot } from '../../../web-tier/operator/status-data.js';
import { startHarness } from './harness.js';

t.test('GET /-/status carries the figures in the HTML, no script needed', async (t) => {
  const harness = await startHarness(t);
  for (let i = 0; i < 3; i += 1) await (await fetch(`${harness.url}/plain`)).text();
  const html = await (await fetch(`${harness.url}/-/status`)).text();
  const json = (await (await fetch(`${harness.url}/-/status.json`)).json()) as StatusSnapshot;
  t.ok(html.includes(`<span class="pill" id="placement">${json.placement.name}</span>`), 'the placement');
  t.match(html, new RegExp(`id="web">web pid ${process.pid} · ${process.version} · up `));
  t.match(html, /<div class="value" id="requests">[1-9]\d*<\/div>/, 'the request count, not the placeholder');
  t.match(html, /<div class="value" id="rps">\d+\.\d\d<\/div>/);
  t.match(html, /<div class="value" id="error-rate">\d+\.\d %<\/div>/);
  t.notMatch(html, /id="rps">–</);
  t.match(html, /<script src="\/-\/status.js" defer><\/script>/, 'still live once the script runs');
});

t.test('values are escaped', async (t) => {
  const template = '<span class="pill" id="placement">placement …</span><span id="web">web …</span>';
  const snapshot = {
    placement: { name: '<b>x</b>' },
    web: { pid: 1, node: 'v20', uptimeSeconds: 5, rssBytes: 1048576, inFlight: 0, eventLoopDelayMs: { p99Ms: 1.5 }, dynamic: 'proxy' },
    traffic: { requests: 0, requestsPerSecond: 0, errorRate: 0 },
  } as unknown as StatusSnapshot;
  t.equal(renderStatusHtml(template, snapshot), '<span class="pill" id="placement">&lt;b&gt;x&lt;/b&gt;</span><span id="web">web pid 1 · v20 · up 5 s · RSS 1.0 MiB · event-loop p99 1.50 ms · dynamic: proxy</span>');
});
