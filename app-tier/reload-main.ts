/**
 * `npm run reload`: finds the running app-tier primary through its pid file (APP_PID_FILE,
 * or `pidFile` in --config; ./data/app-tier.pid by default) and sends it SIGHUP, which
 * replaces the workers one at a time, each new one admitted only once it listens. Under pm2
 * use `pm2 reload app` instead: there is no primary of ours there.
 *
 * Exit codes: 0 signal sent; 1 bad config; 3 no app tier running (no pid file, or a stale one).
 */
import { resolve } from 'node:path';
import { ConfigError, parseFlags } from '../common/config.js';
import { loadConfig } from './config.js';
import { pidState, readPid } from './operator-pid-file.js';

function say(message: string): void {
  process.stderr.write(`twotier reload: ${message}\n`);
}

function main(): number {
  let pidFile: string;
  try {
    pidFile = resolve(loadConfig(parseFlags(process.argv.slice(2), ['config'])['config'], process.env).pidFile);
  } catch (error) {
    if (error instanceof ConfigError) {
      say(error.message);
      return 1;
    }
    throw error;
  }
  const pid = readPid(pidFile);
  if (pid === undefined) {
    say(`no app tier is running: ${pidFile} does not exist (start one with \`npm run app\`, or under pm2 use \`pm2 reload app\`)`);
    return 3;
  }
  const state = pidState(pid);
  if (state !== 'running') {
    say(`no app tier is running: ${pidFile} names pid ${pid}, which ${state === 'gone' ? 'has exited' : 'is another program'} (a stale file from a killed primary)`);
    return 3;
  }
  process.kill(pid, 'SIGHUP');
  say(`sent SIGHUP to the app-tier primary (pid ${pid}); it replaces its workers one at a time (its log says "reload finished")`);
  return 0;
}

process.exitCode = main();
