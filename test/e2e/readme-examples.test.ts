/**
 * Every example in README.md marked `<!-- check -->` is run against the tiers started the way
 * README says (`npm start`, `WEB_CGI=on npm start`, …: the built launcher with the same env, on
 * port 0, on fresh data), and what it prints is compared with what README shows
 * (test/readme/examples.ts says how). An example that drifts from the server fails here.
 *
 * README_CHECK_ACTUAL=FILE writes what each command really printed to FILE (for updating README);
 * README_CHECK_FILE=FILE checks another markdown file (a draft).
 */
import t from 'tap';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareOutput, extractExamples, parseStart, withPorts, type ReadmeExample } from '../readme/examples.js';
import { createShell } from '../readme/shell.js';
import { cleanEnv, startTiers, type JsonLine } from '../readme/tiers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const README = process.env['README_CHECK_FILE'] ?? join(ROOT, 'README.md');
const START_MAIN = join(ROOT, 'dist', 'deploy', 'start.mjs');
const WEB_MAIN = join(ROOT, 'dist', 'web-tier', 'main.js');
const APP_MAIN = join(ROOT, 'dist', 'app-tier', 'main.js');
const actualFile = process.env['README_CHECK_ACTUAL'];
if (actualFile !== undefined) writeFileSync(actualFile, '');

// Four start-ups and some thirty commands: a loaded CI box needs more than tap's 180 s default.
t.setTimeout(600_000);

/** A tool README's commands use that this machine lacks, named with its Debian package. */
function missingTool(command: string): string | undefined {
  const tools: Record<string, string> = { nc: 'netcat-openbsd', curl: 'curl' };
  for (const [tool, pkg] of Object.entries(tools)) {
    if (!new RegExp(`(^|[|;&(]\\s*)${tool}\\s`, 'm').test(command)) continue;
    const found = (process.env['PATH'] ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, tool)));
    if (!found) return `${tool} is not installed (apt-get install ${pkg}; .ci/run installs it)`;
  }
  return undefined;
}

const examples = extractExamples(readFileSync(README, 'utf8'));
t.ok(examples.length >= 10, `README has checked examples (${examples.length})`);

const byStart = new Map<string, ReadmeExample[]>();
for (const example of examples) byStart.set(example.start, [...(byStart.get(example.start) ?? []), example]);

for (const [start, group] of byStart) {
  t.test(`README examples with \`${start}\``, async (t) => {
    const { entry, env } = parseStart(start);
    const dir = mkdtempSync(join(tmpdir(), 'twotier-readme-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    // Fresh data, as README's "start from empty data" says; ports chosen by the kernel.
    const base = { WEB_PORT: '0', APP_PORT: '0', DATABASE_URL: `sqlite:${join(dir, 'twotier.db')}`, APP_PID_FILE: join(dir, 'app.pid'), ...env };
    const script = entry === 'start' ? START_MAIN : entry === 'web' ? WEB_MAIN : APP_MAIN;
    const launcher = startTiers(script, base);
    t.teardown(() => launcher.stop(5_000));
    const ports = new Map<string, string>();
    if (entry === 'start') {
      const up = (await launcher.waitForLine((line) => line['msg'] === 'twotier is up', 90_000)) as JsonLine & { web: { port: number }; app: { port: number } };
      ports.set('8080', String(up.web.port)).set('3000', String(up.app.port));
    } else {
      const listening = await launcher.waitForLine((line) => line['msg'] === 'listening' && typeof line['port'] === 'number', 90_000);
      ports.set(entry === 'web' ? '8080' : '3000', String(listening['port']));
    }
    const back = new Map([...ports].map(([readme, real]) => [real, readme]));
    const shell = createShell({ cwd: ROOT, env: cleanEnv({ TERM: 'dumb' }) });
    t.teardown(() => shell.close());
    for (const example of group) {
      const missing = missingTool(example.command);
      if (missing !== undefined) {
        t.ok(true, `README.md:${example.line}`, { skip: missing });
        continue;
      }
      const { stdout, stderr, code } = await shell.run(withPorts(example.command, ports), 30_000);
      const actual = withPorts(stdout, back);
      if (actualFile !== undefined) appendFileSync(actualFile, `\n<!-- README.md:${example.line} -->\n${example.command}\n----\n${actual}\n`);
      const problems = compareOutput(example.expected, actual);
      t.same(problems, [], `README.md:${example.line}: ${example.command.split('\n')[0]}`, { exitCode: code, stderr: stderr.slice(-2000) });
    }
    // Stop the way README says (Ctrl-C), so the next group has the cores to itself.
    await launcher.stop(10_000);
  });
}
