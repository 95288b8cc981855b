/**
 * `npm start` checks both tiers' configuration before it starts either: each tier's own
 * loadConfig (and the web tier's root check) on the very env the launcher will hand it. A bad
 * value that came from the placement file is named by its key in that file (`web.port`), not
 * by the env variable deploy/placement.cjs mapped it to; one the caller set is named by its
 * env variable, as the tier itself would.
 */
import { ConfigError } from '../common/config.js';
import { loadConfig as loadAppConfig } from '../app-tier/config.js';
import { loadConfig as loadWebConfig } from '../web-tier/config.js';
import { checkRoot } from '../web-tier/root-check.js';
import { placements, type StartOptions } from './start-options.mjs';

/** The env each tier will get (ports defaulted as the launcher does; the real upstream comes later). */
export function launchEnv(options: StartOptions, childLevel: string): { app: NodeJS.ProcessEnv; web: NodeJS.ProcessEnv } {
  const both = options.tiers.length === 2;
  return {
    app: { ...options.env.app, APP_HOST: options.env.app['APP_HOST'] ?? '127.0.0.1', APP_PORT: options.env.app['APP_PORT'] ?? '3000', LOG_LEVEL: childLevel },
    web: {
      ...options.env.web,
      WEB_HOST: options.env.web['WEB_HOST'] ?? '127.0.0.1',
      WEB_PORT: options.env.web['WEB_PORT'] ?? '8080',
      // With both tiers here the web tier forwards to this app tier, whose port is known later.
      ...(both ? { APP_UPSTREAMS: 'http://127.0.0.1:3000' } : {}),
      LOG_LEVEL: childLevel,
    },
  };
}

/** Which placement key set env variable `name` for `tier`, unless the caller's env set it. */
function placementKeyOf(options: StartOptions, tier: 'web' | 'app', name: string, callerEnv: NodeJS.ProcessEnv): string | undefined {
  if (callerEnv[name] !== undefined) return undefined;
  const table = tier === 'web' ? placements.WEB_ENV : placements.APP_ENV;
  for (const [key, envName] of Object.entries(table)) {
    if (envName === name && options.placement[tier][key] !== undefined) return `${tier}.${key}`;
  }
  // The web tier gets the app's database too (CGI and embedded modes).
  if (tier === 'web' && name === 'DATABASE_URL' && options.placement.app['databaseUrl'] !== undefined) return 'app.databaseUrl';
  return undefined;
}

/** One line naming the first bad key, or undefined when both tiers' config is valid. */
export function checkTierConfigs(options: StartOptions, env: { app: NodeJS.ProcessEnv; web: NodeJS.ProcessEnv }, callerEnv: NodeJS.ProcessEnv): string | undefined {
  for (const tier of (['app', 'web'] as const).filter((name) => options.tiers.includes(name))) {
    try {
      if (tier === 'app') loadAppConfig(undefined, env.app);
      else checkRoot(loadWebConfig(undefined, env.web), env.web);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      const fileKey = placementKeyOf(options, tier, error.key, callerEnv);
      if (fileKey === undefined) return `${tier} tier: ${error.message}`;
      const where = placements.PLACEMENT_NAMES.includes(options.placementName) ? `placement ${options.placementName}` : options.placementName;
      const rest = error.message.startsWith(error.key) ? error.message.slice(error.key.length) : `: ${error.message}`;
      return `${where}: ${fileKey}${rest}`;
    }
  }
  return undefined;
}
