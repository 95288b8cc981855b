/**
 * The three ways of running the app give the same answers under the same configuration (issue
 * 12.6): APP_MAX_ARTICLE_BODY_BYTES and APP_MAX_REQUEST_BODY_BYTES set for the web tier reach the
 * embedded app (createEmbeddedApp) and cgi-bin/app (the gateway's scriptEnv), as they reach the
 * app tier's workers. One table, one request list, the same statuses from every mode.
 */
import t, { type Test } from 'tap';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../common/logger.js';
import { DEFAULTS as APP_DEFAULTS, loadConfig as loadAppConfig } from '../../app-tier/config.js';
import { readBodyLimits } from '../../app-tier/cgi-limits.js';
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

type Post = (body: string) => Promise<{ status: number; body: string }>;

const MODES: { name: string; start: (t: Test) => Promise<Post> }[] = [
  {
    name: 'app tier (the proxy\'s upstream)',
    async start(t) {
      const app = await startAppTier(t, { workers: 1, env: LIMITS });
      return (body) => send(app.url, '/api/articles/', { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body });
    },
  },
  {
    name: 'embedded in the web tier',
    async start(t) {
      const config = loadConfig(undefined, { WEB_DYNAMIC: 'embedded', DATABASE_URL: `sqlite:${join(dataDir(t), 'embedded.db')}`, ...LIMITS });
      const app = await createEmbeddedApp(config, createLogger({ tier: 'web', level: 'silent' }));
      const { origin } = await startWeb(t, { env: { WEB_DYNAMIC: 'embedded', APP_UPSTREAMS: '', ...LIMITS }, handlers: { app } });
      return (body) => send(origin, '/api/articles/', { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body });
    },
  },
  {
    name: 'CGI (cgi-bin/app through the gateway)',
    async start(t) {
      const env = { WEB_DYNAMIC: 'cgi', WEB_CGI_DIR: defaultCgiDir(), WEB_CGI_TIMEOUT_MS: '20000', APP_UPSTREAMS: '', DATABASE_URL: `sqlite:${join(dataDir(t), 'cgi.db')}`, ...LIMITS };
      const { origin } = await startWeb(t, { env });
      return (body) => send(origin, '/cgi-bin/app/api/articles/', { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body });
    },
  },
];

for (const mode of MODES) {
  t.test(`${mode.name}: APP_MAX_ARTICLE_BODY_BYTES=100, APP_MAX_REQUEST_BODY_BYTES=300`, { skip: built ? false : notBuilt }, async (t) => {
    const post = await mode.start(t);
    for (const entry of CASES) {
      const reply = await post(entry.body);
      t.equal(reply.status, entry.status, entry.name);
      if ('field' in entry) t.match(JSON.parse(reply.body), { error: { status: 400, code: 'APP_ERR_VALIDATION', field: entry.field, message: /at most 100 bytes/ } }, 'the error names the field and the configured maximum');
    }
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
