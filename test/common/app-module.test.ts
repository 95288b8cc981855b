/**
 * loadAppModule: every way an APP_MODULE can be wrong is one AppModuleError with a stable code and
 * one line naming the module (tests assert on codes, and on the one fact the line must carry);
 * the examples load; a package name resolves; the guard turns a failing request into a 500.
 */
import t from 'tap';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { AppContext, AppRequest } from '../../common/app-interface.js';
import { AppModuleError, loadAppModule, resolveAppModuleSpec } from '../../common/app-module.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/app-modules/', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const context: AppContext = { logger: pino({ level: 'silent' }), env: {}, databaseUrl: 'sqlite::memory:', mode: 'persistent' };

function request(target: string, method = 'GET'): AppRequest {
  return { method, target, httpVersion: '1.1', headers: {}, body: new Uint8Array(), remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '127.0.0.1', localPort: 2, requestId: 'req-7' };
}

const FAILURES: readonly { file: string; code: string; says: RegExp }[] = [
  { file: './no-such-app.mjs', code: 'APP_MODULE_NOT_FOUND', says: /cannot find \.\/no-such-app\.mjs/ },
  { file: './no-default.mjs', code: 'APP_MODULE_NO_DEFAULT_EXPORT', says: /no default export/ },
  { file: './object-export.mjs', code: 'APP_MODULE_BAD_EXPORT', says: /default export is an object, not a function createApp/ },
  { file: './app-object.mjs', code: 'APP_MODULE_BAD_EXPORT', says: /export a function that returns it/ },
  { file: './listener.mjs', code: 'APP_MODULE_BAD_EXPORT', says: /fromNodeHandler/ },
  { file: './throws.mjs', code: 'APP_MODULE_CREATE_FAILED', says: /no DATABASE_URL for the hello app/ },
  { file: './rejects.mjs', code: 'APP_MODULE_CREATE_FAILED', says: /cannot reach the cache/ },
  { file: './never.mjs', code: 'APP_MODULE_TIMEOUT', says: /within 300 ms/ },
  { file: './never-imports.mjs', code: 'APP_MODULE_TIMEOUT', says: /within 300 ms/ },
  { file: './bad-app.mjs', code: 'APP_MODULE_BAD_APPLICATION', says: /returned an object, not an Application/ },
  { file: './syntax-error.mjs', code: 'APP_MODULE_LOAD_FAILED', says: /SyntaxError/ },
  { file: './missing-dep.mjs', code: 'APP_MODULE_LOAD_FAILED', says: /twotier-no-such-package/ },
  { file: 'twotier-no-such-package', code: 'APP_MODULE_NOT_FOUND', says: /cannot find package twotier-no-such-package/ },
];

for (const failure of FAILURES) {
  t.test(`${failure.file}: ${failure.code}`, async (t) => {
    const error = await loadAppModule({ spec: failure.file, baseDir: FIXTURES, context, timeoutMs: 300 }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    t.ok(error instanceof AppModuleError, 'an AppModuleError');
    t.equal((error as AppModuleError).code, failure.code);
    t.match((error as Error).message, failure.says);
    t.match((error as Error).message, /^APP_MODULE: /, 'starts with the variable it is about');
    t.notMatch((error as Error).message, /\n/, 'one line');
  });
}

t.test('the hello example loads from a relative path and answers', async (t) => {
  const app = await loadAppModule({ spec: './examples/hello/app.js', baseDir: ROOT, context });
  const response = await app.handle(request('/'));
  t.same({ status: response.status, body: response.body }, { status: 200, body: 'Hello world!\n' });
  const head = await app.handle(request('/', 'HEAD'));
  t.equal(head.body, null, 'HEAD: the guard drops the body');
  await app.close();
  await app.close();
  t.pass('close() twice is fine');
});

t.test('a package name resolves (express, from the node_modules beside the base or twotier\'s)', async (t) => {
  // 'express' resolves, but it is not an APP_MODULE: express() returns a listener (req, res, next).
  const error = await loadAppModule({ spec: 'express', baseDir: FIXTURES, context }).then(() => undefined, (caught: unknown) => caught);
  t.equal((error as AppModuleError).code, 'APP_MODULE_BAD_APPLICATION', 'found, then refused for what it returns');
  t.match((error as Error).message, /returned a function.*fromNodeHandler/, 'with the way out');
});

t.test('resolveAppModuleSpec: paths become absolute against the base, package names stay', async (t) => {
  t.equal(resolveAppModuleSpec('./examples/hello/app.js', '/srv/twotier'), '/srv/twotier/examples/hello/app.js');
  t.equal(resolveAppModuleSpec('/opt/app/index.js', '/srv/twotier'), '/opt/app/index.js');
  t.equal(resolveAppModuleSpec('my-app', '/srv/twotier'), 'my-app');
});

t.test('the guard: a throwing or rejecting request, or a wrong answer, is a 500 with the request id; the next is served', async (t) => {
  const app = await loadAppModule({ spec: './lifecycle.mjs', baseDir: FIXTURES, context });
  for (const path of ['/api/throw', '/api/reject', '/api/shape']) {
    const response = await app.handle(request(path));
    t.equal(response.status, 500, path);
    t.match(JSON.parse(String(response.body)), { error: { code: 'APP_ERR_INTERNAL', requestId: 'req-7' } }, `${path}: the body names the request id`);
  }
  const ok = await app.handle(request('/api/fine'));
  t.equal(ok.status, 200, 'the next request is served');
  await app.close();
});
