import t, { type Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runAppTier, tempDataDir } from '../helpers/app-tier.js';

/** One line on stderr that names the key, exit 1, and no stack trace. */
function assertConfigFailure(t: Test, result: { code: number | null; stdout: string; stderr: string }, key: RegExp): void {
  t.equal(result.code, 1, 'exit code 1');
  const lines = result.stderr.trimEnd().split('\n');
  t.equal(lines.length, 1, `one line: ${result.stderr}`);
  t.match(lines[0], key);
  t.match(lines[0], /^twotier app: /);
  t.notMatch(result.stderr, /\n\s+at /, 'no stack trace');
  t.equal(result.stdout, '', 'nothing started, nothing logged');
}


t.test('bad values stop start-up with the key named', async (t) => {
  const dir = tempDataDir(t);
  const db = `sqlite:${join(dir, 'x.db')}`;
  const [port, workers, scheme, level] = await Promise.all([
    runAppTier({ APP_PORT: '99999', DATABASE_URL: db }),
    runAppTier({ APP_WORKERS: '0', DATABASE_URL: db }),
    runAppTier({ DATABASE_URL: 'mysql://db.example/twotier' }),
    runAppTier({ LOG_LEVEL: 'chatty', DATABASE_URL: db }),
  ]);
  assertConfigFailure(t, port, /APP_PORT.*port number from 0 to 65535, got 99999/);
  assertConfigFailure(t, workers, /APP_WORKERS.*positive number/);
  assertConfigFailure(t, scheme, /DATABASE_URL.*unknown scheme "mysql:"/);
  assertConfigFailure(t, level, /LOG_LEVEL/);
});

t.test('--config: an unknown key, a bad flag, an unreadable file', async (t) => {
  const dir = tempDataDir(t);
  const file = join(dir, 'app.json');
  writeFileSync(file, JSON.stringify({ port: 0, workerz: 2 }));
  const [unknown, flag, missing] = await Promise.all([
    runAppTier({ DATABASE_URL: `sqlite:${join(dir, 'x.db')}` }, ['--config', file]),
    runAppTier({}, ['--verbose']),
    runAppTier({}, ['--config', join(dir, 'nope.json')]),
  ]);
  assertConfigFailure(t, unknown, /unknown key "workerz"/);
  assertConfigFailure(t, flag, /unknown argument "--verbose"/);
  assertConfigFailure(t, missing, /nope\.json cannot be read/);
});

t.test('a database that cannot be opened is named too', async (t) => {
  const dir = tempDataDir(t);
  writeFileSync(join(dir, 'file'), 'not a folder');
  const result = await runAppTier({ DATABASE_URL: `sqlite:${join(dir, 'file', 'x.db')}` });
  t.equal(result.code, 1);
  t.match(result.stderr, /^twotier app: DATABASE_URL: cannot open the database/);
  t.notMatch(result.stderr, /\n\s+at /);
});

t.test('a pid file that cannot be written is named', async (t) => {
  const dir = tempDataDir(t);
  writeFileSync(join(dir, 'file'), 'not a folder');
  const result = await runAppTier({ DATABASE_URL: `sqlite:${join(dir, 'x.db')}`, APP_PID_FILE: join(dir, 'file', 'app.pid') });
  t.equal(result.code, 1);
  t.match(result.stderr, /^twotier app: APP_PID_FILE: cannot write .*app\.pid \((ENOTDIR|EEXIST)\)\n$/);
});
