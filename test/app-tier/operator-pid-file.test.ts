import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { claimPidFile, instancePidFile, instancePidFiles, PidFileHeldError } from '../../app-tier/operator-pid-file.js';

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-pid-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('instancePidFile: the default name carries host and port; placeholders; an explicit path as given', async (t) => {
  t.equal(instancePidFile('./data/app-tier.pid', true, '127.0.0.1', 3000), './data/app-tier-127.0.0.1-3000.pid');
  t.equal(instancePidFile('./data/app-tier.pid', true, '::', 3000), './data/app-tier-__-3000.pid');
  t.equal(instancePidFile('/run/app-{port}.pid', false, '0.0.0.0', 3001), '/run/app-3001.pid');
  t.equal(instancePidFile('/run/app.pid', false, '0.0.0.0', 3001), '/run/app.pid');
});

t.test('instancePidFiles finds every instance file of the pattern, nothing else', async (t) => {
  const dir = tempDir(t);
  for (const name of ['app-tier-127.0.0.1-3000.pid', 'app-tier-__-41234.pid', 'app-tier.pid', 'other-127.0.0.1-3000.pid', 'app-tier-127.0.0.1-x.pid']) writeFileSync(join(dir, name), '1\n');
  t.same(instancePidFiles(join(dir, 'app-tier.pid'), true), [join(dir, 'app-tier-127.0.0.1-3000.pid'), join(dir, 'app-tier-__-41234.pid')]);
  t.same(instancePidFiles(join(dir, 'nope', 'app-tier.pid'), true), [], 'no folder, no files');
});

t.test('claimPidFile: never taken from a live app tier; a stale file is replaced; removed only while ours', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'sub', 'app.pid');
  const claimed = claimPidFile(file, process.pid);
  t.equal(readFileSync(file, 'utf8'), `${process.pid}\n`, 'created with its folder');
  t.equal(claimPidFile(file, process.pid).path, file, 'claiming our own file again is fine');

  // A live process whose command line names app-tier/main.js: an app tier of ours.
  const live = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'app-tier/main.js'], { stdio: 'ignore' });
  t.teardown(() => live.kill('SIGKILL'));
  await once(live, 'spawn');
  writeFileSync(file, `${live.pid}\n`);
  t.throws(() => claimPidFile(file, process.pid), PidFileHeldError);
  t.equal(readFileSync(file, 'utf8'), `${live.pid}\n`, 'not overwritten');
  claimed.remove();
  t.ok(existsSync(file), 'remove() leaves a file that is not ours');

  live.kill('SIGKILL');
  await once(live, 'exit');
  claimPidFile(file, process.pid);
  t.equal(readFileSync(file, 'utf8'), `${process.pid}\n`, 'a stale file is replaced');
  claimed.remove();
  t.notOk(existsSync(file));
});
