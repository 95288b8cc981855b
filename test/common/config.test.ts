import t from 'tap';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { buildConfig, ConfigError, fields, parseFlags, readConfigFile } from '../../common/config.js';

const schema = z.object({ port: fields.port(), host: fields.host(), workers: fields.positiveInt('a positive integer'), upstreams: z.array(z.string()) });
const defaults = { port: 3000, host: '127.0.0.1', workers: 2, upstreams: ['http://127.0.0.1:3000'] };
const envBindings = { APP_PORT: { key: 'port', kind: 'int' }, APP_HOST: { key: 'host', kind: 'string' }, APP_WORKERS: { key: 'workers', kind: 'int' }, UP: { key: 'upstreams', kind: 'list' } } as const;

t.test('defaults, file, env layer in that order and the result is frozen', async (t) => {
  const config = buildConfig({ schema, defaults, envBindings, fileValues: { port: 4000, host: '0.0.0.0' }, env: { APP_PORT: '5000', UP: 'http://a:1, http://b:2' } });
  t.equal(config.port, 5000);
  t.equal(config.host, '0.0.0.0');
  t.same(config.upstreams, ['http://a:1', 'http://b:2']);
  t.ok(Object.isFrozen(config));
  t.ok(Object.isFrozen(config.upstreams));
});

t.test('a bad value names the env var and what is expected', async (t) => {
  const error = t.throws(() => buildConfig({ schema, defaults, envBindings, env: { APP_PORT: '99999' } })) as ConfigError;
  t.equal(error.code, 'CONFIG_INVALID');
  t.equal(error.key, 'APP_PORT');
  t.match(error.message, /APP_PORT.*port number/);
  const zero = t.throws(() => buildConfig({ schema, defaults, envBindings, env: { APP_WORKERS: '0' } })) as ConfigError;
  t.equal(zero.key, 'APP_WORKERS');
  const text = t.throws(() => buildConfig({ schema, defaults, envBindings, env: { APP_PORT: 'eighty' } })) as ConfigError;
  t.equal(text.key, 'APP_PORT');
});

t.test('an unknown file key fails loudly', async (t) => {
  const error = t.throws(() => buildConfig({ schema, defaults, envBindings, fileValues: { prot: 1 }, fileName: 'x.json', env: {} })) as ConfigError;
  t.equal(error.key, 'prot');
  t.match(error.message, /unknown key "prot"/);
});

t.test('config files: unreadable, not JSON, not an object', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'twotier-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.throws(() => readConfigFile(join(dir, 'missing.json')), { code: 'CONFIG_INVALID' });
  writeFileSync(join(dir, 'bad.json'), '{ nope');
  t.throws(() => readConfigFile(join(dir, 'bad.json')), /not valid JSON/);
  writeFileSync(join(dir, 'list.json'), '[1]');
  t.throws(() => readConfigFile(join(dir, 'list.json')), /JSON object/);
  writeFileSync(join(dir, 'ok.json'), '{"port": 1}');
  t.same(readConfigFile(join(dir, 'ok.json')), { port: 1 });
});

t.test('flags', async (t) => {
  t.same(parseFlags(['--config', 'a.json', '--placement=multi-box'], ['config', 'placement']), { config: 'a.json', placement: 'multi-box' });
  t.throws(() => parseFlags(['--bogus'], ['config']), /unknown argument/);
  t.throws(() => parseFlags(['--config'], ['config']), /needs a value/);
});
