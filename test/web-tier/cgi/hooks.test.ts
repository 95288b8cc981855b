import t from 'tap';
import { makeCgiDir, send, startCgiServer, writeScript } from './helpers.js';

const OK = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nok'\n";
const FAILS = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nhalf'\nexit 3\n";

/** Resolves after `count` exits have been reported (the exit is reported after the response may already be read). */
function exitCounter(): { exits: boolean[]; onExit: (failed: boolean) => void; waitFor: (count: number) => Promise<void> } {
  const exits: boolean[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  return {
    exits,
    onExit(failed) {
      exits.push(failed);
      for (const waiter of waiters.filter((candidate) => exits.length >= candidate.count)) waiter.resolve();
    },
    waitFor(count) {
      if (exits.length >= count) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
  };
}

t.test('onSpawn is called per started script, onExit once per script with failed = non-zero or killed', async (t) => {
  const cgiDir = makeCgiDir(t);
  writeScript(cgiDir, 'ok.sh', OK);
  writeScript(cgiDir, 'fails.sh', FAILS);
  writeScript(cgiDir, 'slow.sh', '#!/bin/sh\nsleep 30\n');
  let spawns = 0;
  const counter = exitCounter();
  const { base } = await startCgiServer(t, { cgiDir, timeoutMs: 300, onSpawn: () => (spawns += 1), onExit: counter.onExit });

  t.equal((await send(base, '/cgi-bin/ok.sh')).status, 200);
  await counter.waitFor(1);
  t.same(counter.exits, [false], 'exit 0 → not failed');

  await send(base, '/cgi-bin/fails.sh');
  await counter.waitFor(2);
  t.same(counter.exits, [false, true], 'exit 3 → failed');

  t.equal((await send(base, '/cgi-bin/slow.sh')).status, 504);
  await counter.waitFor(3);
  t.same(counter.exits, [false, true, true], 'killed at the deadline → failed');

  t.equal((await send(base, '/cgi-bin/missing.sh')).status, 404);
  t.equal(spawns, 3, 'a refused script starts nothing and is not counted');
  t.equal(counter.exits.length, 3);
});

t.test('a script that cannot be started is a spawn and a failed exit', async (t) => {
  const cgiDir = makeCgiDir(t);
  // Executable but no interpreter: exec fails (ENOENT on the #! line).
  writeScript(cgiDir, 'broken.sh', '#!/nonexistent/interpreter\n');
  let spawns = 0;
  const counter = exitCounter();
  const { base } = await startCgiServer(t, { cgiDir, onSpawn: () => (spawns += 1), onExit: counter.onExit });
  t.equal((await send(base, '/cgi-bin/broken.sh')).status, 502);
  await counter.waitFor(1);
  t.equal(spawns, 1);
  t.same(counter.exits, [true]);
});
