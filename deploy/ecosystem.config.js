'use strict';
/**
 * pm2 ecosystem: `pm2 start deploy/ecosystem.config.js [--env multi-box]`.
 * CommonJS (deploy/package.json) because pm2 require()s this file and the package is ESM.
 *
 * - app: cluster mode, one pm2 instance per CPU (APP_INSTANCES overrides). app-tier/main.js
 *   sees pm_id and runs as a standalone worker (no node:cluster primary of ours under pm2),
 *   sends process.send('ready') once it listens (wait_ready), and drains on pm2's SIGINT.
 * - web: fork mode, one process (it is the single entry point of the site).
 * Both run the compiled JS (`npm run build` first) and log pino JSON (LOG_PRETTY=0), which
 * `pm2 logs` shows as is.
 *
 * Env per placement comes from deploy/placements/*.json through the same translation
 * `npm start` uses (placement.cjs). On a multi-box deployment, start only the tier of the box:
 * `pm2 start deploy/ecosystem.config.js --only app --env multi-box`.
 */
const { join } = require('node:path');
const { loadPlacement, placementEnv } = require('./placement.cjs');

const root = join(__dirname, '..');

/**
 * The app tier drains for shutdownTimeoutMs (10 s default, APP_SHUTDOWN_TIMEOUT_MS), then
 * closes its store; pm2 SIGKILLs kill_timeout ms after SIGINT, so kill_timeout must be longer
 * (pm2's default 1600 ms would cut in-flight requests: app-tier/README-lifecycle.md).
 */
const shutdownTimeoutMs = Number(process.env.APP_SHUTDOWN_TIMEOUT_MS) || 10_000;
const killTimeoutMs = shutdownTimeoutMs + 2_000;

/** The placement's env, where the shell running `pm2 start` may override any key (as with npm start). */
function envFor(placement, tier) {
  const env = placementEnv(loadPlacement(placement), tier);
  for (const key of Object.keys(env)) if (process.env[key] !== undefined) env[key] = process.env[key];
  // `APP_MODULE=./examples/hello/app.js pm2 start deploy/ecosystem.config.js`: both tiers run that application (issue 18).
  if (process.env.APP_MODULE !== undefined) env.APP_MODULE = process.env.APP_MODULE;
  return { NODE_ENV: 'production', LOG_PRETTY: '0', ...env };
}

module.exports = {
  apps: [
    {
      name: 'app',
      script: join(root, 'dist', 'app-tier', 'main.js'),
      cwd: root,
      exec_mode: 'cluster',
      // 'max' = one per CPU (pm2 docs, "Cluster mode").
      instances: process.env.APP_INSTANCES || 'max',
      wait_ready: true,
      // Opening (and on first start migrating) the database comes before 'ready'.
      listen_timeout: 15_000,
      kill_timeout: killTimeoutMs,
      // A worker that crashes at start is retried with growing delays, not in a tight loop.
      exp_backoff_restart_delay: 100,
      merge_logs: true,
      env: envFor('single-box', 'app'),
      'env_single-box': envFor('single-box', 'app'),
      'env_multi-box': envFor('multi-box', 'app'),
    },
    {
      name: 'web',
      script: join(root, 'dist', 'web-tier', 'main.js'),
      // V8 heap flags (deploy/node-flags.json says why), the same for every launcher.
      node_args: require('./node-flags.json').web,
      cwd: root,
      exec_mode: 'fork',
      instances: 1,
      // main.js sends 'ready' once it listens, so `pm2 reload web` waits for the new process.
      wait_ready: true,
      listen_timeout: 15_000,
      kill_timeout: (Number(process.env.WEB_SHUTDOWN_TIMEOUT_MS) || 10_000) + 2_000,
      exp_backoff_restart_delay: 100,
      merge_logs: true,
      env: envFor('single-box', 'web'),
      'env_single-box': envFor('single-box', 'web'),
      'env_multi-box': envFor('multi-box', 'web'),
    },
  ],
};
