'use strict';
/**
 * A placement file, `{ "description"?, "web": {…}, "app": {…} }`, turned into each tier's
 * environment. One translation for every launcher: `npm start` (deploy/start.mts), pm2
 * (ecosystem.config.js) and the compose file (checked against it by test/deploy). The keys
 * are the tiers' own config keys (web-tier/config.ts, app-tier/config.ts); a placement
 * holds only what differs between boxes (addresses, counts, the database), everything else
 * keeps the tiers' defaults. CommonJS because pm2 require()s the ecosystem file.
 */
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

/** Config key → the env var the tier's loadConfig binds to it. */
const WEB_ENV = Object.freeze({
  host: 'WEB_HOST',
  port: 'WEB_PORT',
  upstreams: 'APP_UPSTREAMS',
  // More applications behind this web tier (issue 18): ["/hello/=http://127.0.0.1:3001", …], one route each.
  routes: 'WEB_ROUTES',
  trustedProxies: 'WEB_TRUSTED_PROXIES',
  serverNames: 'WEB_SERVER_NAMES',
  // HTTPS at the edge (issue 15): off | files | internal | acme, and its port.
  tls: 'WEB_TLS',
  tlsPort: 'WEB_TLS_PORT',
  proxyHealthIntervalMs: 'WEB_PROXY_HEALTH_INTERVAL_MS',
  logLevel: 'LOG_LEVEL',
});
const APP_ENV = Object.freeze({
  host: 'APP_HOST',
  port: 'APP_PORT',
  workers: 'APP_WORKERS',
  databaseUrl: 'DATABASE_URL',
  operatorAllow: 'APP_OPERATOR_ALLOW',
  // The application to run (issue 18): a path from the package root, or a package name.
  appModule: 'APP_MODULE',
  logLevel: 'LOG_LEVEL',
});
const TIER_ENV = Object.freeze({ web: WEB_ENV, app: APP_ENV });

const PLACEMENTS_DIR = join(__dirname, 'placements');
const PLACEMENT_NAMES = Object.freeze(['single-box', 'multi-box']);

class PlacementError extends Error {
  constructor(message) {
    super(message);
    this.name = 'PlacementError';
    this.code = 'PLACEMENT_INVALID';
  }
}

const LOOPBACK = /^(127\.|::1$|localhost$)/;

function hostOf(url) {
  try {
    return new URL(url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return '';
  }
}

/** Throws PlacementError naming the key at fault; returns the placement, frozen. */
function checkPlacement(value, source) {
  const where = source === undefined ? 'placement' : source;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new PlacementError(`${where}: must be a JSON object { "web": {…}, "app": {…} }`);
  for (const key of Object.keys(value)) {
    if (key !== 'description' && key !== 'web' && key !== 'app') throw new PlacementError(`${where}: unknown key "${key}" (expected description, web, app)`);
  }
  for (const tier of ['web', 'app']) {
    const part = value[tier];
    if (part === null || typeof part !== 'object' || Array.isArray(part)) throw new PlacementError(`${where}: "${tier}" must be an object of ${tier} tier config keys`);
    for (const [key, item] of Object.entries(part)) {
      if (!(key in TIER_ENV[tier])) throw new PlacementError(`${where}: unknown key "${tier}.${key}" (a placement sets only ${Object.keys(TIER_ENV[tier]).join(', ')})`);
      const ok = Array.isArray(item) ? item.every((entry) => typeof entry === 'string') : ['string', 'number', 'boolean'].includes(typeof item);
      if (!ok) throw new PlacementError(`${where}: "${tier}.${key}" must be a string, number, boolean or list of strings`);
    }
  }
  // Several app boxes each opening "its own" SQLite file would each have a different
  // database: an article written through one box would be missing on the other.
  const upstreamHosts = new Set((value.web.upstreams || []).map(hostOf));
  const spread = upstreamHosts.size > 1 || [...upstreamHosts].some((host) => host !== '' && !LOOPBACK.test(host));
  const database = String(value.app.databaseUrl || 'sqlite:./data/twotier.db');
  if (spread && /^sqlite:/i.test(database)) {
    throw new PlacementError(`${where}: app.databaseUrl is SQLite but the app tier runs on other boxes (${[...upstreamHosts].join(', ')}): each box would have its own database; use postgres://`);
  }
  return Object.freeze({ description: value.description, web: Object.freeze({ ...value.web }), app: Object.freeze({ ...value.app }) });
}

/** Reads a placement by name (single-box, multi-box) or by file path. */
function loadPlacement(nameOrFile) {
  const file = PLACEMENT_NAMES.includes(nameOrFile) ? join(PLACEMENTS_DIR, `${nameOrFile}.json`) : nameOrFile;
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new PlacementError(`cannot read placement ${file} (${error.code || error.message}); use --placement ${PLACEMENT_NAMES.join('|')} or --config FILE`);
  }
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new PlacementError(`${file}: not valid JSON (${error.message})`);
  }
  return checkPlacement(value, file);
}

/** The env one tier needs for this placement; lists are comma-separated, as the tiers read them. */
function placementEnv(placement, tier) {
  const env = {};
  for (const [key, item] of Object.entries(placement[tier])) {
    // WEB_ROUTES separates routes with ";" (a route's own upstreams are comma-separated).
    env[TIER_ENV[tier][key]] = Array.isArray(item) ? item.join(key === 'routes' ? ';' : ',') : String(item);
  }
  // The web tier hands DATABASE_URL to CGI and embedded modes: the same database as the app.
  if (tier === 'web' && placement.app.databaseUrl !== undefined) env.DATABASE_URL = String(placement.app.databaseUrl);
  // And the same application, for embedded mode and cgi-bin/app.
  if (tier === 'web' && placement.app.appModule !== undefined) env.APP_MODULE = String(placement.app.appModule);
  return env;
}

module.exports = { WEB_ENV, APP_ENV, PLACEMENTS_DIR, PLACEMENT_NAMES, PlacementError, checkPlacement, loadPlacement, placementEnv };
