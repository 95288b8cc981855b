/**
 * Network namespaces for tests that need separate network stacks (multi-box) or fixed ports
 * (pm2 apps listen on 8080/3000): inside its own namespace a fixed port cannot collide with
 * anything else on the machine. Addresses come from 198.18.0.0/15 (RFC 2544, benchmarking)
 * so they never clash with a real network. Everything is removed in teardown, even after a
 * failure: processes still inside a namespace are killed, then the namespace and the bridge go.
 */
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { Test } from 'tap';

const run = promisify(execFile);

/** Why netns tests cannot run here, or false when they can. */
export function netnsSkipReason(): string | false {
  if (process.platform !== 'linux') return 'network namespaces are Linux only';
  if (process.getuid?.() !== 0) return 'ip netns needs root';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'the ip command is missing (apt-get install iproute2)';
  }
  return false;
}

export interface Netns {
  readonly name: string;
  /** Runs a command inside the namespace to completion. */
  exec(command: string, args: readonly string[], options?: { env?: NodeJS.ProcessEnv; timeout?: number }): Promise<{ stdout: string; stderr: string }>;
  /** Starts a long-running command inside the namespace. */
  spawn(command: string, args: readonly string[], options?: SpawnOptions): ChildProcess;
  /** SIGKILL to every process in the namespace (a box losing power). */
  killAll(): Promise<void>;
}

async function ip(args: readonly string[]): Promise<string> {
  return (await run('ip', args, { timeout: 10_000 })).stdout;
}

async function killAllIn(name: string): Promise<void> {
  const pids = (await ip(['netns', 'pids', name]).catch(() => '')).split('\n').filter((pid) => /^\d+$/.test(pid));
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** A short unique prefix: interface names are at most 15 characters. */
export function uniqueTag(): string {
  return randomBytes(3).toString('hex');
}

/** A namespace with loopback up. */
export async function createNetns(t: Test, name: string): Promise<Netns> {
  await ip(['netns', 'add', name]);
  t.teardown(async () => {
    await killAllIn(name);
    await ip(['netns', 'del', name]).catch(() => undefined);
  });
  await ip(['-n', name, 'link', 'set', 'lo', 'up']);
  return {
    name,
    async exec(command, args, options = {}) {
      const result = await run('ip', ['netns', 'exec', name, command, ...args], { env: options.env ?? process.env, timeout: options.timeout ?? 60_000 });
      return { stdout: result.stdout, stderr: result.stderr };
    },
    spawn(command, args, options = {}) {
      return spawn('ip', ['netns', 'exec', name, command, ...args], options);
    },
    killAll: () => killAllIn(name),
  };
}

/**
 * A bridge in the host namespace with one veth pair per box: `boxes` maps a namespace to its
 * address (a /24 in 198.18.0.0/15), like machines on one switch. The host joins only when
 * given `hostAddress`.
 */
export async function connectBoxes(t: Test, tag: string, boxes: ReadonlyArray<{ netns: Netns; address: string }>, options: { hostAddress?: string } = {}): Promise<void> {
  const bridge = `tt${tag}br`;
  await ip(['link', 'add', bridge, 'type', 'bridge']);
  t.teardown(() => ip(['link', 'del', bridge]).then(() => undefined, () => undefined));
  // hostAddress: the test process itself joins the switch, as a client machine would.
  if (options.hostAddress !== undefined) await ip(['addr', 'add', `${options.hostAddress}/24`, 'dev', bridge]);
  await ip(['link', 'set', bridge, 'up']);
  for (const [index, box] of boxes.entries()) {
    const outside = `tt${tag}h${index}`;
    const inside = `tt${tag}n${index}`;
    await ip(['link', 'add', outside, 'type', 'veth', 'peer', 'name', inside]);
    // Deleting one end deletes the pair; moving `inside` into a namespace removes it with it too.
    t.teardown(() => ip(['link', 'del', outside]).then(() => undefined, () => undefined));
    await ip(['link', 'set', inside, 'netns', box.netns.name]);
    await ip(['link', 'set', outside, 'master', bridge]);
    await ip(['link', 'set', outside, 'up']);
    await ip(['-n', box.netns.name, 'addr', 'add', `${box.address}/24`, 'dev', inside]);
    await ip(['-n', box.netns.name, 'link', 'set', inside, 'up']);
  }
}
