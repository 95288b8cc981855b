/**
 * A throwaway Postgres cluster for one test file: `initdb` in a temp dir as the `postgres`
 * user, `pg_ctl start -w` (returns once the server accepts connections), stopped and removed
 * in teardown. By default it listens on a Unix socket in its own temp dir only, so no TCP port
 * is taken and clusters of parallel test files never collide; `tcp` adds an address (used
 * inside a network namespace, where a fixed port cannot collide with anything).
 */
import { execFile, execFileSync } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import type { Test } from 'tap';

const run = promisify(execFile);

export interface PostgresCluster {
  /** The folder holding the Unix socket (`?host=` in a URL). */
  readonly socketDir: string;
  /** postgres:// URL of `database` over the Unix socket. */
  url(database: string): string;
  /** Creates an empty database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** pg_ctl stop -m immediate: like the server dying (connections cut, no goodbye). */
  stop(): Promise<void>;
  /** Starts it again after stop(). */
  start(): Promise<void>;
}

/** The newest installed server's bin folder, or undefined when Postgres is not installed. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

/** Why Postgres tests cannot run here, or false when they can. */
export function postgresSkipReason(): string | false {
  if (postgresBinDir() === undefined) return 'Postgres server binaries are absent (apt-get install postgresql)';
  if (process.getuid?.() !== 0) return 'starting a throwaway Postgres cluster needs root (runuser -u postgres)';
  try {
    execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' });
  } catch {
    return 'there is no postgres system user (apt-get install postgresql creates it)';
  }
  return false;
}

function asPostgres(bin: string, args: readonly string[]): Promise<unknown> {
  return run('runuser', ['-u', 'postgres', '--', bin, ...args], { timeout: 60_000 });
}

export interface StartPostgresOptions {
  /** Also listen on this TCP address (only inside a namespace: the port is fixed). */
  readonly tcp?: { host: string; port: number };
  /** Start the server inside this network namespace. */
  readonly netns?: string;
  /** Networks allowed in without a password, e.g. 198.18.0.0/15 (initdb's trust covers loopback only). */
  readonly trustNetworks?: readonly string[];
}

export async function startPostgres(t: Test, options: StartPostgresOptions = {}): Promise<PostgresCluster> {
  const bin = postgresBinDir();
  if (bin === undefined) throw new Error('Postgres is not installed');
  // Under /tmp, not os.tmpdir(): the postgres user must be able to reach the folder (a TMPDIR
  // under /root is not), and the socket path must stay within the 107-byte sun_path limit.
  const dir = mkdtempSync(join('/tmp', 'twotier-pg-'));
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  chownSync(dir, uid, gid);
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  let running = false;
  t.teardown(async () => {
    if (running) await asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  // --no-sync and fsync=off: a test cluster need not survive power loss, and fsyncs are slow here.
  await asPostgres(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync']);
  for (const network of options.trustNetworks ?? []) appendFileSync(join(data, 'pg_hba.conf'), `host all all ${network} trust\n`);
  const listen = options.tcp === undefined ? "-c listen_addresses=''" : `-c listen_addresses=${options.tcp.host} -p ${options.tcp.port}`;
  const serverOptions = `${listen} -k ${dir} -c fsync=off -c max_connections=200`;
  const start = async (): Promise<void> => {
    const args = ['-D', data, '-l', log, '-w', '-t', '60', '-o', serverOptions, 'start'];
    const command = options.netns === undefined ? ['runuser', '-u', 'postgres', '--', join(bin, 'pg_ctl'), ...args] : ['ip', 'netns', 'exec', options.netns, 'runuser', '-u', 'postgres', '--', join(bin, 'pg_ctl'), ...args];
    try {
      await run(command[0] as string, command.slice(1), { timeout: 70_000 });
    } catch (error) {
      const tail = existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-20).join('\n') : '';
      throw new Error(`pg_ctl start failed: ${(error as Error).message}\n${tail}`);
    }
    running = true;
  };
  await start();
  const port = options.tcp?.port ?? 5432;
  const url = (database: string): string => `postgres://postgres@localhost:${port}/${database}?host=${encodeURIComponent(dir)}`;
  return {
    socketDir: dir,
    url,
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    async stop() {
      await asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      running = false;
    },
    start,
  };
}
