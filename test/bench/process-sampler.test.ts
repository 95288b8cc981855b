import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { createProcessSampler, parseStat, parseStatusRssKiB, sampleTree } from '../../bench/process-sampler.js';

t.test('parseStat counts fields from the last ")" so odd process names parse', async (t) => {
  const line = '4242 (we ird) (name)) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 30 7 3 20 0 11 0 123 456 789';
  t.same(parseStat(line), { pid: 4242, ppid: 17, ownTicks: 280, reapedChildTicks: 10 });
  t.equal(parseStat('garbage'), null);
});

t.test('parseStatusRssKiB reads VmRSS and treats a zombie as 0', async (t) => {
  t.equal(parseStatusRssKiB('Name:\tnode\nVmPeak:\t 99 kB\nVmRSS:\t   51200 kB\nThreads: 7\n'), 51200);
  t.equal(parseStatusRssKiB('Name:\tzombie\nState:\tZ (zombie)\n'), 0);
});

// A parent that keeps a sleeping child (a live descendant) and then runs a short CPU-bound
// child to completion (a reaped descendant, like a finished CGI script).
const PARENT = `
const { spawn, spawnSync } = require('node:child_process');
const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
process.stdout.write('live ' + sleeper.pid + '\\n');
process.stdin.once('data', () => {
  spawnSync(process.execPath, ['-e', 'const end = Date.now() + 400; while (Date.now() < end) {}']);
  process.stdout.write('reaped\\n');
});
process.on('SIGTERM', () => { sleeper.kill(); process.exit(0); });
`;

t.test('the sampler sees live descendants and the CPU time of reaped ones', async (t) => {
  const parent = spawn(process.execPath, ['-e', PARENT], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => {
    if (parent.exitCode === null) parent.kill('SIGTERM');
  });
  const lines = createInterface({ input: parent.stdout })[Symbol.asyncIterator]();
  const first = await lines.next();
  const sleeperPid = Number(String(first.value).split(' ')[1]);
  t.ok(sleeperPid > 0, 'parent started a live child');

  const tree = sampleTree([parent.pid as number]);
  t.ok(tree.pids.includes(sleeperPid), 'the live child is part of the tree');
  t.ok(tree.rssKiB > 1024, 'resident memory is read');

  const sampler = createProcessSampler({ rootPids: [parent.pid as number], intervalMs: 50 });
  parent.stdin.write('go\n');
  const second = await lines.next();
  t.equal(second.value, 'reaped');
  const summary = sampler.stop();
  t.ok(summary.peakProcesses >= 2, `peak processes ${summary.peakProcesses}`);
  t.ok(summary.peakRssMiB > 5, `peak RSS ${summary.peakRssMiB} MiB`);
  // The CPU-bound child lived between samples at most; its 0.4 s arrive through cutime.
  t.ok(summary.cpuSeconds >= 0.25, `cpu ${summary.cpuSeconds} s`);
  t.same(sampler.stop(), summary, 'stop is idempotent');
  parent.kill('SIGTERM');
  await once(parent, 'exit');
});

t.test('an empty tree samples as zero', async (t) => {
  const sampler = createProcessSampler({ rootPids: [], intervalMs: 1000 });
  t.same(sampler.stop(), { samples: 2, peakRssMiB: 0, peakProcesses: 0, cpuSeconds: 0 });
});
