/**
 * Finds the TCP ports a process tree listens on, from /proc: the socket inodes among each
 * process's open file descriptors, matched against LISTEN entries of /proc/net/tcp{,6}.
 * The tiers announce their port in an info-level log line, but the benchmark runs them at
 * LOG_LEVEL=silent (logging would be measured too), so the kernel is asked instead.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { sampleTree } from './process-sampler.js';

/** proc(5) /proc/net/tcp: "sl local_address rem_address st … inode"; st 0A is LISTEN. */
export function parseListeningSockets(table: string): Map<number, number> {
  const byInode = new Map<number, number>();
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10 || fields[3] !== '0A') continue;
    const port = Number.parseInt((fields[1] ?? '').split(':')[1] ?? '', 16);
    const inode = Number(fields[9]);
    if (Number.isInteger(port) && port > 0 && inode > 0) byInode.set(inode, port);
  }
  return byInode;
}

function socketInodes(pid: number, procDir: string): number[] {
  const inodes: number[] = [];
  let fds: string[];
  try {
    fds = readdirSync(join(procDir, String(pid), 'fd'));
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(join(procDir, String(pid), 'fd', fd)));
      if (match !== null) inodes.push(Number(match[1]));
    } catch {
      // The descriptor closed while we looked.
    }
  }
  return inodes;
}

/** Ports (ascending) that any process in the trees below `rootPids` listens on. */
export function listeningPorts(rootPids: readonly number[], procDir = '/proc'): number[] {
  const listening = new Map<number, number>();
  for (const table of ['tcp', 'tcp6']) {
    try {
      for (const [inode, port] of parseListeningSockets(readFileSync(join(procDir, 'net', table), 'utf8'))) listening.set(inode, port);
    } catch {
      // No IPv6 on this machine.
    }
  }
  const ports = new Set<number>();
  for (const pid of sampleTree(rootPids, procDir).pids) {
    for (const inode of socketInodes(pid, procDir)) {
      const port = listening.get(inode);
      if (port !== undefined) ports.add(port);
    }
  }
  return [...ports].sort((a, b) => a - b);
}
