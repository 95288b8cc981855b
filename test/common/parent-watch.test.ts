import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { LAUNCHER_ENV, launcherChain, readParentPid, watchLaunchers, type LauncherChain } from '../../common/parent-watch.js';

t.test('launcherChain: our launcher, npm (its shell and npm), or nobody', async (t) => {
  const parentOf = (pid: number): number | undefined => ({ 200: 100 })[pid];
  t.same(launcherChain({ [LAUNCHER_ENV]: '200' }, 200, parentOf), { pids: [200], launcher: 'twotier' });
  t.same(launcherChain({ npm_lifecycle_event: 'app' }, 200, parentOf), { pids: [200, 100], launcher: 'npm' }, 'npm runs the script through a shell: both watched');
  t.same(launcherChain({ npm_lifecycle_event: 'app' }, 300, parentOf), { pids: [300], launcher: 'npm' }, 'no /proc: the parent alone');
  const running = (): boolean => true;
  const gone = (): boolean => false;
  t.same(launcherChain({ [LAUNCHER_ENV]: '999', npm_lifecycle_event: 'start' }, 200, parentOf, running), { pids: [200, 100], launcher: 'npm' }, 'a live launcher that is not our parent is not ours');
  t.same(launcherChain({ [LAUNCHER_ENV]: '999' }, 1, parentOf, gone), { pids: [999], launcher: 'twotier' }, 'our launcher died while we loaded: watched, so the first check fires');
  t.same(launcherChain({}, 200, parentOf), { pids: [], launcher: 'none' }, 'started by a shell, systemd or a container: may outlive its parent');
  t.same(launcherChain({ pm_id: '0', npm_lifecycle_event: 'x', [LAUNCHER_ENV]: '200' }, 200, parentOf), { pids: [], launcher: 'none' }, 'pm2 watches its own');
  t.same(launcherChain({ npm_lifecycle_event: 'app' }, 1, parentOf), { pids: [], launcher: 'none' }, 'already orphaned at start: nothing to watch');
});

t.test('watchLaunchers: fires once when the parent changes or a launcher above is re-parented', async (t) => {
  // The watch's timer is unref'd (it never holds a process open): hold this one open meanwhile.
  const keepAlive = setInterval(() => undefined, 1_000);
  t.teardown(() => clearInterval(keepAlive));
  const chain: LauncherChain = { pids: [200, 100], launcher: 'npm' };
  let ppid = 200;
  let shellParent: number | undefined = 100;
  const gone: number[] = [];
  let fired: () => void = () => undefined;
  const watch = watchLaunchers({ chain, intervalMs: 5, currentPpid: () => ppid, parentOf: () => shellParent, onGone: (pid) => { gone.push(pid); fired(); } });
  t.teardown(() => watch.stop());
  shellParent = 1;
  await new Promise<void>((resolve) => (fired = resolve));
  t.same(gone, [100], 'npm gone: its shell was re-parented');

  ppid = 1;
  const again: number[] = [];
  const second = watchLaunchers({ chain: { pids: [200], launcher: 'twotier' }, intervalMs: 5, currentPpid: () => ppid, onGone: (pid) => { again.push(pid); fired(); } });
  t.teardown(() => second.stop());
  await new Promise<void>((resolve) => (fired = resolve));
  t.same(again, [200], 'our launcher gone: we were re-parented');
  t.same(gone, [100], 'each watch fires once');
});

t.test('readParentPid reads /proc (Linux), even for a process name with spaces and parentheses', { skip: process.platform === 'linux' ? false : 'Linux /proc only' }, async (t) => {
  t.equal(readParentPid(process.pid), process.ppid);
  const child = spawn(process.execPath, ['-e', 'process.title = "a (b) c"; setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  await once(child, 'spawn');
  t.equal(readParentPid(child.pid ?? 0), process.pid);
  child.kill('SIGKILL');
  await once(child, 'exit');
  t.equal(readParentPid(child.pid ?? 0), undefined, 'a reaped process has no parent');
});
