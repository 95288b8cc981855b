/**
 * `npm run reload`: finds the running app-tier primary through its pid file and sends it
 * SIGHUP, which replaces the workers one at a time, each new one admitted only once it listens.
 * The pid file is per instance (./data/app-tier-<host>-<port>.pid by default, operator-pid-file.ts):
 * APP_HOST/APP_PORT (or --config) name the instance; without them the one app tier running
 * from this folder is found; APP_PID_FILE (or `pidFile` in --config) names the file outright.
 * Under pm2 use `pm2 reload app` instead: there is no primary of ours there.
 *
 * Exit codes: 0 signal sent; 1 bad config, or several app tiers and none named; 3 no app tier
 * running (no pid file, or a stale one).
 */
import { existsSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { ConfigError, parseFlags } from '../common/config.js';
import { DEFAULTS, loadConfig, type AppConfig } from './config.js';
import { heldBy, instancePidFile, instancePidFiles, pidState, readPid } from './operator-pid-file.js';

function say(message: string): void {
  process.stderr.write(`twotier reload: ${message}\n`);
}

/**
 * The pid file to signal. The instance the config names (APP_HOST/APP_PORT, or --config) when
 * it was named or its file exists; otherwise the one app tier that runs here, found among the
 * per-instance files (an app tier on APP_PORT=0 has its real port in its file name).
 */
function choosePidFile(config: AppConfig, named: boolean): { file: string } | { exit: number } {
  const perInstance = config.pidFile === DEFAULTS.pidFile;
  const own = resolve(instancePidFile(config.pidFile, perInstance, config.host, config.port));
  if (named || existsSync(own) || !(perInstance || /\{(host|port)\}/.test(config.pidFile))) return { file: own };
  const found = instancePidFiles(resolve(config.pidFile), perInstance);
  const live = found.filter((file) => heldBy(file) !== undefined);
  if (live.length === 1) return { file: live[0] as string };
  if (live.length > 1) {
    say(`several app tiers run here: ${live.map((file) => `pid ${readPid(file)} (${file})`).join(', ')}; name one with APP_PORT (and APP_HOST) or APP_PID_FILE`);
    return { exit: 1 };
  }
  if (found.length > 0) return { file: found[0] as string };
  const file = resolve(config.pidFile);
  const shown = perInstance ? `${file.slice(0, file.length - extname(file).length)}-<host>-<port>${extname(file)}` : file;
  say(`no app tier is running: no pid file ${shown} (start one with \`npm run app\`, or under pm2 use \`pm2 reload app\`)`);
  return { exit: 3 };
}

function main(): number {
  let config: AppConfig;
  let configFile: string | undefined;
  try {
    configFile = parseFlags(process.argv.slice(2), ['config'])['config'];
    config = loadConfig(configFile, process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      say(error.message);
      return 1;
    }
    throw error;
  }
  const named = configFile !== undefined || process.env['APP_PORT'] !== undefined || process.env['APP_HOST'] !== undefined;
  const chosen = choosePidFile(config, named);
  if ('exit' in chosen) return chosen.exit;
  const pidFile = chosen.file;
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
