/**
 * The three ways of running the app give the same answers under the same configuration (issue
 * 12.6): APP_MAX_ARTICLE_BODY_BYTES and APP_MAX_REQUEST_BODY_BYTES set for the web tier reach the
 * embedded app (createEmbeddedApp) and cgi-bin/app (the gateway's scriptEnv), as they reach the
 * app tier's workers. One table, one request list, the same statuses from every mode.
 *
 * The report-job settings too (APP_JOB_RETENTION_SEC, APP_JOB_MAX_PENDING, APP_REPORT_STEP_DELAY_MS):
 * a finished job planted in the mode's database an hour ago is past a 60 s retention (404) though
 * within the default day, a second report is past a bound of one pending job (503), and the first
 * does not move within a second under an hour's step delay.
 */
import t, { type Test } from 'tap';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createLogger } from '../../common/logger.js';
import { DEFAULTS as APP_DEFAULTS, loadConfig as loadAppConfig } from '../../app-tier/config.js';
import { readBodyLimits, readJobSettings } from '../../app-tier/cgi-limits.js';
import { openStore } from '../../app-tier/store/index.js';
import { DEFAULTS, loadConfig } from '../../web-tier/config.js';
import { planReload } from '../../web-tier/config-reload.js';
import { appScriptEnv } from '../../web-tier/server-handlers.js';
import { withOverrides } from '../helpers/web-tier.js';
import { createEmbeddedApp } from '../../web-tier/embedded.js';
import { defaultCgiDir, packageRoot } from '../../web-tier/cgi/resolve-script.js';
import { APP_MAIN, startAppTier } from '../helpers/app-tier.js';
import { startWeb } from '../helpers/web-tier.js';
import { send, startCgiServer } from './cgi/helpers.js';

const LIMITS = { APP_MAX_ARTICLE_BODY_BYTES: '100', APP_MAX_REQUEST_BODY_BYTES: '300' };
/** Report jobs: kept 60 s once finished, one pending at most, an hour between steps (none of them the default). */
const JOBS = { APP_JOB_RETENTION_SEC: '60', APP_JOB_MAX_PENDING: '1', APP_REPORT_STEP_DELAY_MS: '3600000' };
const SETTINGS = { ...LIMITS, ...JOBS };
/** A finished report job last updated an hour ago: kept under the default retention (a day), past JOBS' 60 s. */
const FINISHED_JOB = '5e1f0d2c-0000-4000-8000-0000000060a1';
const built = existsSync(join(packageRoot(), 'dist', 'app-tier', 'cgi-main.js')) && existsSync(APP_MAIN);
const notBuilt = 'not built: run `npm run build` (npm test does)';

function dataDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-limits-modes-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The JSON article POST, with padding that makes the whole request body `totalBytes` long. */
function article(bodyBytes: number, totalBytes?: number): string {
  const json = JSON.stringify({ title: 'Limits', body: 'x'.repeat(bodyBytes) });
  return totalBytes === undefined ? json : `${json}${' '.repeat(totalBytes - json.length)}`;
}

const CASES = [
  { name: 'an article body of exactly the maximum (100 bytes)', body: article(100), status: 201 },
  { name: 'one byte over the article maximum (101 bytes): 400 naming body', body: article(101), status: 400, field: 'body' },
  { name: 'a request body over APP_MAX_REQUEST_BODY_BYTES (301 bytes): 413', body: article(10, 301), status: 413 },
] as const;

type Reply = { status: number; body: string };
/** A request to the mode's app: `path` under /api/ (the mode adds its own prefix). */
type Send = (method: string, path: string, body?: string) => Promise<Reply>;

const JSON_REQUEST = { 'Content-Type': 'application/json', Accept: 'application/json' };
const sender = (origin: string, prefix = ''): Send => (method, path, body) => send(origin, `${prefix}${path}`, { method, headers: JSON_REQUEST, ...(body === undefined ? {} : { body }) });

/** Plants FINISHED_JOB in the mode's SQLite file (migrated first: CGI creates it only on its first request). */
async function plantFinishedJob(database: string): Promise<void> {
  const store = await openStore(`sqlite:${database}`, { logger: createLogger({ tier: 'app', level: 'silent' }) });
  await store.close();
  const db = new Database(database);
  const anHourAgo = new Date(Date.now() - 3_600_000).toISOString();
  const report = JSON.stringify({ articles: 1, words: 1, distinctWords: 1, topWords: [{ word: 'the', count: 1 }], counts: { the: 1 } });
  db.prepare(
    `INSERT INTO jobs (id, kind, state, total, done, data, result, error, steps, next_step_at, created_at, updated_at, finished_at)
      VALUES (?, 'word-count', 'done', 1, 1, '{"workers":[]}', ?, NULL, 1, 0, ?, ?, ?)`,
  ).run(FINISHED_JOB, report, anHourAgo, anHourAgo, anHourAgo);
  db.close();
}

const MODES: { name: string; start: (t: Test) => Promise<{ send: Send; database: string }> }[] = [
  {
    name: 'app tier (the proxy\'s upstream)',
    async start(t) {
      const app = await startAppTier(t, { workers: 1, env: SETTINGS });
      return { send: sender(app.url), database: join(app.dataDir, 'twotier.db') };
    },
  },
  {
    name: 'embedded in the web tier',
    async start(t) {
      const database = join(dataDir(t), 'embedded.db');
      const config = loadConfig(undefined, { WEB_DYNAMIC: 'embedded', DATABASE_URL: `sqlite:${database}`, ...SETTINGS });
      const app = await createEmbeddedApp(config, createLogger({ tier: 'web', level: 'silent' }));
      const { origin } = await startWeb(t, { env: { WEB_DYNAMIC: 'embedded', APP_UPSTREAMS: '', ...SETTINGS }, handlers: { app } });
      return { send: sender(origin), database };
    },
  },
  {
    name: 'CGI (cgi-bin/app through the gateway)',
    async start(t) {
      const database = join(dataDir(t), 'cgi.db');
      const env = { WEB_DYNAMIC: 'cgi', WEB_CGI_DIR: defaultCgiDir(), WEB_CGI_TIMEOUT_MS: '20000', APP_UPSTREAMS: '', DATABASE_URL: `sqlite:${database}`, ...SETTINGS };
      const { origin } = await startWeb(t, { env });
      return { send: sender(origin, '/cgi-bin/app'), database };
    },
  },
];

for (const mode of MODES) {
  t.test(`${mode.name}: APP_MAX_ARTICLE_BODY_BYTES=100, APP_MAX_REQUEST_BODY_BYTES=300; APP_JOB_RETENTION_SEC=60, APP_JOB_MAX_PENDING=1, APP_REPORT_STEP_DELAY_MS=3600000`, { skip: built ? false : notBuilt }, async (t) => {
    const { send: request, database } = await mode.start(t);
    for (const entry of CASES) {
      const reply = await request('POST', '/api/articles/', entry.body);
      t.equal(reply.status, entry.status, entry.name);
      if ('field' in entry) t.match(JSON.parse(reply.body), { error: { status: 400, code: 'APP_ERR_VALIDATION', field: entry.field, message: /at most 100 bytes/ } }, 'the error names the field and the configured maximum');
    }

    await plantFinishedJob(database);
    const expired = await request('GET', `/api/reports/jobs/${FINISHED_JOB}/`);
    t.equal(expired.status, 404, 'a job finished an hour ago is past APP_JOB_RETENTION_SEC=60: 404 (303 under the default day)');
    t.match(JSON.parse(expired.body), { error: { status: 404, code: 'APP_ERR_NOT_FOUND' } });
    const accepted = await request('POST', '/api/reports/', '{}');
    t.equal(accepted.status, 202, 'the first report is accepted');
    const full = await request('POST', '/api/reports/', '{}');
    t.equal(full.status, 503, 'a second one is past APP_JOB_MAX_PENDING=1: 503 (202 under the default 100)');
    t.match(JSON.parse(full.body), { error: { code: 'APP_ERR_JOB_QUEUE_FULL' } });
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const job = await request('GET', `/api/reports/jobs/${JSON.parse(accepted.body).id as string}/`);
    t.match(JSON.parse(job.body), { state: 'queued', progress: { done: 0 } }, 'no step in a second under APP_REPORT_STEP_DELAY_MS=3600000 (one every 500 ms by default)');
  });
}

t.test('cgi-bin/app given a bad limit answers 500 and says which variable (the gateway never sends one: its config refuses it)', { skip: built ? false : notBuilt }, async (t) => {
  const { base, sink } = await startCgiServer(t, {
    cgiDir: defaultCgiDir(),
    timeoutMs: 20_000,
    passEnv: { DATABASE_URL: `sqlite:${join(dataDir(t), 'bad.db')}`, NODE: process.execPath, APP_MAX_ARTICLE_BODY_BYTES: 'lots' },
  });
  const reply = await send(base, '/cgi-bin/app/api/echo');
  t.equal(reply.status, 500);
  await sink.waitFor((line) => /APP_MAX_ARTICLE_BODY_BYTES/.test(JSON.stringify(line)), 20_000);
});

t.test('the web tier reads the app tier\'s variables, defaults and rules; cgi-bin/app alone gets them', async (t) => {
  t.equal(DEFAULTS.app.maxArticleBodyBytes, APP_DEFAULTS.maxArticleBodyBytes, 'the app tier\'s default (64 KiB)');
  t.equal(DEFAULTS.app.maxRequestBodyBytes, APP_DEFAULTS.maxRequestBodyBytes, 'the app tier\'s default (1 MiB)');
  const config = loadConfig(undefined, LIMITS);
  t.same([config.app.maxArticleBodyBytes, config.app.maxRequestBodyBytes], [100, 300]);
  t.throws(() => loadConfig(undefined, { APP_MAX_ARTICLE_BODY_BYTES: '0' }), { name: 'ConfigError', key: 'APP_MAX_ARTICLE_BODY_BYTES' });
  t.throws(() => loadConfig(undefined, { APP_MAX_REQUEST_BODY_BYTES: 'big' }), { name: 'ConfigError', key: 'APP_MAX_REQUEST_BODY_BYTES' });
  t.throws(() => loadConfig(undefined, { APP_MAX_ARTICLE_BODY_BYTES: '2000', APP_MAX_REQUEST_BODY_BYTES: '1000' }), { name: 'ConfigError', key: 'APP_MAX_REQUEST_BODY_BYTES' }, 'request ≥ article, as the app tier requires');
  t.throws(() => loadAppConfig(undefined, { APP_MAX_ARTICLE_BODY_BYTES: '2000', APP_MAX_REQUEST_BODY_BYTES: '1000' }), { name: 'ConfigError', key: 'APP_MAX_REQUEST_BODY_BYTES' }, 'the app tier refuses the same');
  t.match(appScriptEnv(config), { APP_MAX_ARTICLE_BODY_BYTES: '100', APP_MAX_REQUEST_BODY_BYTES: '300' });
  t.match(appScriptEnv(loadConfig(undefined, {})), { APP_MAX_ARTICLE_BODY_BYTES: '65536', APP_MAX_REQUEST_BODY_BYTES: '1048576' });
  t.same(planReload(config, withOverrides(config, { app: { maxArticleBodyBytes: 200, maxRequestBodyBytes: 400 } })).needRestart, ['app.maxArticleBodyBytes', 'app.maxRequestBodyBytes'], 'the embedded app is built once: a reload says restart');
});

t.test('the report-job settings: the app tier\'s variables, defaults and bounds; config file keys; cgi-bin/app alone gets them', async (t) => {
  t.same(
    [DEFAULTS.app.jobRetentionSec, DEFAULTS.app.jobMaxPending, DEFAULTS.app.reportStepDelayMs],
    [APP_DEFAULTS.jobRetentionSec, APP_DEFAULTS.jobMaxPending, APP_DEFAULTS.reportStepDelayMs],
    'the app tier\'s defaults (a day, 100, 500 ms)',
  );
  const config = loadConfig(undefined, JOBS);
  t.same([config.app.jobRetentionSec, config.app.jobMaxPending, config.app.reportStepDelayMs], [60, 1, 3_600_000]);
  t.same(appScriptEnv(config), { ...appScriptEnv(loadConfig(undefined, {})), ...JOBS }, 'handed to cgi-bin/app under the same names');
  t.match(appScriptEnv(loadConfig(undefined, {})), { APP_JOB_RETENTION_SEC: '86400', APP_JOB_MAX_PENDING: '100', APP_REPORT_STEP_DELAY_MS: '500' });
  t.same(
    [loadConfig(undefined, { APP_JOB_RETENTION_SEC: '0', APP_JOB_MAX_PENDING: '0', APP_REPORT_STEP_DELAY_MS: '0' }).app].map((app) => [app.jobRetentionSec, app.jobMaxPending, app.reportStepDelayMs]),
    [[0, 0, 0]],
    '0: kept forever, no bound, no pause, as on the app tier',
  );
  for (const [name, value] of [['APP_JOB_RETENTION_SEC', '315360001'], ['APP_JOB_RETENTION_SEC', '-1'], ['APP_JOB_MAX_PENDING', '-1'], ['APP_REPORT_STEP_DELAY_MS', '1.5']] as const) {
    const web = t.throws(() => loadConfig(undefined, { [name]: value }), { name: 'ConfigError', key: name }) as Error;
    const app = t.throws(() => loadAppConfig(undefined, { [name]: value }), { name: 'ConfigError', key: name }) as Error;
    // "APP_JOB_RETENTION_SEC (app.jobRetentionSec): must be …" on the web tier, "(jobRetentionSec)" on the app tier.
    const rule = (message: string): string => message.replace(/^\S+ \([^)]*\): /, '');
    t.match(web.message, new RegExp(`^${name}\\b`), 'one line naming the variable');
    t.notMatch(web.message, /\n/);
    t.equal(rule(web.message), rule(app.message), `${name}=${value}: the app tier's own rule and words`);
  }
  t.ok(loadConfig(undefined, { APP_JOB_RETENTION_SEC: '315360000' }), 'ten years is the bound, as on the app tier');

  const dir = dataDir(t);
  const file = join(dir, 'web.json');
  writeFileSync(file, JSON.stringify({ app: { jobRetentionSec: 120, jobMaxPending: 7, reportStepDelayMs: 0 } }));
  t.match(loadConfig(file, {}).app, { jobRetentionSec: 120, jobMaxPending: 7, reportStepDelayMs: 0 }, 'the config file\'s app section');
  writeFileSync(file, JSON.stringify({ app: { jobRetentionSec: -1 } }));
  t.throws(() => loadConfig(file, {}), { name: 'ConfigError', key: 'app.jobRetentionSec' });
  t.same(planReload(config, withOverrides(config, { app: { jobRetentionSec: 61 } })).needRestart, ['app.jobRetentionSec'], 'the embedded app is built once: a reload says restart');
});

t.test('cgi-bin/app\'s reading of the report-job settings gives what the app tier\'s loadConfig gives, or its error', async (t) => {
  const inputs: Record<string, string>[] = [
    {}, JOBS, { APP_JOB_RETENTION_SEC: '' }, { APP_JOB_RETENTION_SEC: '0', APP_JOB_MAX_PENDING: '0', APP_REPORT_STEP_DELAY_MS: '0' },
    { APP_JOB_RETENTION_SEC: ' 60 ' }, { APP_JOB_MAX_PENDING: '007' }, { APP_JOB_RETENTION_SEC: '315360000' }, { APP_JOB_RETENTION_SEC: '315360001' },
    { APP_JOB_RETENTION_SEC: '-1' }, { APP_JOB_MAX_PENDING: '1e3' }, { APP_REPORT_STEP_DELAY_MS: 'soon' }, { APP_REPORT_STEP_DELAY_MS: '99999999999999999999' },
  ];
  for (const env of inputs) {
    let expected: unknown;
    try {
      const config = loadAppConfig(undefined, env);
      expected = { jobRetentionSec: config.jobRetentionSec, jobMaxPending: config.jobMaxPending, reportStepDelayMs: config.reportStepDelayMs };
    } catch (error) {
      expected = { key: (error as { key: string }).key };
    }
    let got: unknown;
    try {
      got = await readJobSettings(env);
    } catch (error) {
      got = { key: (error as { key: string }).key };
    }
    t.same(got, expected, JSON.stringify(env));
  }
});

t.test('cgi-bin/app\'s reading of the bounds gives what the app tier\'s loadConfig gives, or its error', async (t) => {
  const inputs: Record<string, string>[] = [
    {}, LIMITS, { APP_MAX_ARTICLE_BODY_BYTES: '' }, { APP_MAX_ARTICLE_BODY_BYTES: ' 100 ' }, { APP_MAX_ARTICLE_BODY_BYTES: '0100' },
    { APP_MAX_ARTICLE_BODY_BYTES: '0' }, { APP_MAX_ARTICLE_BODY_BYTES: '-5' }, { APP_MAX_ARTICLE_BODY_BYTES: '1e3' },
    { APP_MAX_REQUEST_BODY_BYTES: '100' }, { APP_MAX_ARTICLE_BODY_BYTES: '2000', APP_MAX_REQUEST_BODY_BYTES: '1000' },
    { APP_MAX_ARTICLE_BODY_BYTES: '99999999999999999999' },
  ];
  for (const env of inputs) {
    let expected: unknown;
    try {
      const config = loadAppConfig(undefined, env);
      expected = { maxArticleBodyBytes: config.maxArticleBodyBytes, maxRequestBodyBytes: config.maxRequestBodyBytes };
    } catch (error) {
      expected = { key: (error as { key: string }).key };
    }
    let got: unknown;
    try {
      got = await readBodyLimits(env);
    } catch (error) {
      got = { key: (error as { key: string }).key };
    }
    t.same(got, expected, JSON.stringify(env));
  }
});
