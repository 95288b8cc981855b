#!/usr/bin/env node
// README's picture of the status page, from a real run (issue 17): starts the tiers as `npm start`
// does (built dist/, ports chosen by the kernel, a scratch database), sends some traffic through
// both tiers, opens /-/status in Debian's Chromium and saves what it shows. The benchmark section
// shows bench/results/latest.json when a `npm run bench` has written one.
//
//   npm run build && node docs/status-page-screenshot.mjs [docs/status-page.png]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const out = process.argv[2] ?? join(root, 'docs', 'status-page.png');
const scratch = mkdtempSync(join(tmpdir(), 'twotier-screenshot-'));
const env = { ...process.env, WEB_PORT: '0', APP_PORT: '0', DATABASE_URL: `sqlite:${join(scratch, 'twotier.db')}`, APP_PID_FILE: join(scratch, 'app.pid'), LOG_LEVEL: 'warn' };
delete env.LOG_PRETTY;
const tiers = spawn(process.execPath, [join(root, 'dist', 'deploy', 'start.mjs')], { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] });

function stop() {
  if (tiers.exitCode === null) tiers.kill('SIGINT');
  rmSync(scratch, { recursive: true, force: true });
}

try {
  const up = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the tiers were not up within 60 s')), 60_000);
    tiers.once('exit', (code) => reject(new Error(`the tiers exited (${code})`)));
    createInterface({ input: tiers.stdout }).on('line', (line) => {
      try {
        const parsed = JSON.parse(line);
        if (parsed.msg === 'twotier is up') {
          clearTimeout(timer);
          resolve(parsed);
        }
      } catch {
        // Not a JSON line: not the one we wait for.
      }
    });
  });
  const site = `http://127.0.0.1:${up.web.port}`;
  // Traffic for the figures: pages, the API, a static file, and one 404.
  for (let i = 0; i < 60; i += 1) {
    const path = ['/', '/api/echo', '/articles/', '/api/articles/', '/static/site.css', '/api/articles/999/'][i % 6];
    await (await fetch(`${site}${path}`)).arrayBuffer();
  }
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(`${site}/-/status`);
    // Live: the event stream has delivered a snapshot (status.js marks it on #live).
    await page.waitForFunction(() => document.getElementById('live')?.dataset.mode !== 'connecting', undefined, { timeout: 20_000 });
    await page.screenshot({ path: out, fullPage: true });
  } finally {
    await browser.close();
  }
  process.stderr.write(`saved ${out}\n`);
} finally {
  stop();
}
