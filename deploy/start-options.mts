/**
 * What `npm start -- …` was asked to do, decided once and purely from argv and env:
 * which placement, which tiers run on this box, and each tier's environment
 * (placement file ← the caller's env, so WEB_PORT=0 npm start still wins over the file).
 */
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Placement {
  readonly description?: string;
  readonly web: Readonly<Record<string, unknown>>;
  readonly app: Readonly<Record<string, unknown>>;
}

interface PlacementModule {
  readonly PLACEMENT_NAMES: readonly string[];
  /** Placement key → the env variable it becomes, per tier. */
  readonly WEB_ENV: Readonly<Record<string, string>>;
  readonly APP_ENV: Readonly<Record<string, string>>;
  loadPlacement(nameOrFile: string): Placement;
  placementEnv(placement: Placement, tier: 'web' | 'app'): Record<string, string>;
}

/**
 * deploy/placement.cjs is the one placement → env translation (pm2's CommonJS ecosystem file
 * needs it too). It sits in the source tree, beside the placements, both from deploy/ (tests)
 * and from dist/deploy/ (the build); the JSON files are not compiled.
 */
function deploySourceDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return basename(dirname(here)) === 'dist' ? join(dirname(dirname(here)), 'deploy') : here;
}

export const placements = createRequire(import.meta.url)(join(deploySourceDir(), 'placement.cjs')) as PlacementModule;

export class StartUsageError extends Error {
  readonly code = 'START_USAGE';
}

export const USAGE = 'usage: npm start -- [--placement single-box|multi-box | --config FILE] [--only web|app]';

export interface StartOptions {
  /** "single-box", "multi-box" or the --config file path. */
  readonly placementName: string;
  readonly placement: Placement;
  readonly tiers: ReadonlyArray<'app' | 'web'>;
  /** Each tier's env: the caller's env over the placement's. */
  readonly env: { readonly app: NodeJS.ProcessEnv; readonly web: NodeJS.ProcessEnv };
}

const LOOPBACK = /^(127\.|localhost$|\[::1\]$)/;

export function parseStartArgs(argv: readonly string[], env: NodeJS.ProcessEnv): StartOptions {
  const flags: Record<string, string> = {};
  for (let index = 0; index < argv.length; index += 1) {
    const match = /^--(placement|config|only)(?:=(.*))?$/.exec(argv[index] ?? '');
    if (match === null) throw new StartUsageError(`unknown argument ${JSON.stringify(argv[index])}; ${USAGE}`);
    const name = match[1] as string;
    const value = match[2] ?? argv[(index += 1)];
    if (value === undefined || value === '' || value.startsWith('--')) throw new StartUsageError(`--${name} needs a value; ${USAGE}`);
    if (flags[name] !== undefined) throw new StartUsageError(`--${name} given twice; ${USAGE}`);
    flags[name] = value;
  }
  if (flags['placement'] !== undefined && flags['config'] !== undefined) throw new StartUsageError(`give --placement or --config, not both; ${USAGE}`);
  if (flags['placement'] !== undefined && !placements.PLACEMENT_NAMES.includes(flags['placement'])) {
    throw new StartUsageError(`unknown placement "${flags['placement']}" (known: ${placements.PLACEMENT_NAMES.join(', ')}; or --config FILE)`);
  }
  const only = flags['only'];
  if (only !== undefined && only !== 'web' && only !== 'app') throw new StartUsageError(`--only must be web or app, got "${only}"`);
  const placementName = flags['config'] ?? flags['placement'] ?? 'single-box';
  let placement: Placement;
  try {
    placement = placements.loadPlacement(placementName);
  } catch (error) {
    throw new StartUsageError((error as Error).message);
  }
  const tiers = only === undefined ? (['app', 'web'] as const) : ([only] as const);
  const upstreams = String(env['APP_UPSTREAMS'] ?? (placement.web['upstreams'] as string[] | undefined)?.join(',') ?? '');
  if (tiers.length === 2 && upstreams.split(',').some((url) => url !== '' && !LOOPBACK.test(URL.canParse(url) ? new URL(url).host.replace(/:\d+$/, '') : url))) {
    throw new StartUsageError(`placement ${placementName} puts the app tier on other boxes (${upstreams}): run "--only web" on the web box and "--only app" on each app box`);
  }
  const pick = (tier: 'web' | 'app'): NodeJS.ProcessEnv => {
    const fromPlacement = placements.placementEnv(placement, tier);
    // The caller's env wins key by key, like env over a --config file in the tiers themselves.
    return { ...fromPlacement, ...env };
  };
  return { placementName, placement, tiers, env: { app: pick('app'), web: pick('web') } };
}
