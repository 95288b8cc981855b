/**
 * The static root must exist when the web tier starts: a mistyped WEB_ROOT would otherwise
 * serve nothing but 404s, with no word about why. Checked by the web tier's entry (at start and
 * on every config reload) and by `npm start` before it starts either tier.
 */
import { statSync } from 'node:fs';
import { ConfigError, type Env } from '../common/config.js';
import type { WebConfig } from './config.js';

/** Throws ConfigError naming WEB_ROOT (or `static.root` from the config file) and the path. */
export function checkRoot(config: Pick<WebConfig, 'static'>, env: Env): void {
  const key = env['WEB_ROOT'] !== undefined && env['WEB_ROOT'] !== '' ? 'WEB_ROOT' : 'static.root';
  const { root } = config.static;
  let isDirectory: boolean;
  try {
    isDirectory = statSync(root).isDirectory();
  } catch (error) {
    throw new ConfigError(key, `${key}: ${root} does not exist (${(error as NodeJS.ErrnoException).code ?? 'error'}); it is the folder of static files to serve`, { cause: error });
  }
  if (!isDirectory) throw new ConfigError(key, `${key}: ${root} is not a directory; it is the folder of static files to serve`);
}
