import t from 'tap';
import { readFileSync } from 'node:fs';
import { baseEnv, findPortInLine, launchServer, summariseStderr } from '../../bench/launcher.js';
import { listeningPorts, parseListeningSockets } from '../../bench/listen-ports.js';
import { renderNginxConfig } from '../../bench/nginx.js';

t.test('the port comes from a JSON start-up line in any of the usual shapes', async (t) => {
  t.equal(findPortInLine('{"level":30,"msg":"listening","port":43123}'), 43123);
  t.equal(findPortInLine('{"address":{"address":"127.0.0.1","port":8081}}'), 8081);
  t.equal(findPortInLine('{"msg":"listening","url":"http://127.0.0.1:9090"}'), 9090);
  t.equal(findPortInLine('{"port":0}'), null, 'port 0 is a request, not an answer');
  t.equal(findPortInLine('listening on 8080'), null);
  t.equal(findPortInLine('null'), null);
});

t.test('servers start from a minimal, silent environment', async (t) => {
  t.same(baseEnv({ PATH: '/bin', HOME: '/h', APP_TOKEN: 'secret', LOG_LEVEL: 'debug', DATABASE_URL: 'sqlite:./data/real.db' }), { PATH: '/bin', HOME: '/h', LOG_LEVEL: 'silent', NODE_ENV: 'production' });
});

t.test('/proc/net/tcp LISTEN rows map inode → port', async (t) => {
  const table = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 55501 1 0',
    '   1: 0100007F:1F91 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 55502 1 0',
  ].join('\n');
  t.same([...parseListeningSockets(table)], [[55501, 8080]], 'only LISTEN (0A) rows');
});

const SILENT_SERVER = `
const http = require('node:http');
const server = http.createServer((req, res) => res.end('ok'));
server.listen(0, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

t.test('a server that logs nothing is found through /proc and stopped by close()', async (t) => {
  const server = await launchServer({ name: 'silent', command: process.execPath, args: ['-e', SILENT_SERVER], env: { PATH: process.env['PATH'] ?? '' }, cwd: process.cwd(), cpuList: null });
  t.teardown(() => server.close());
  t.ok(server.port > 0);
  t.same(listeningPorts([server.pid]), [server.port]);
  const response = await fetch(`http://127.0.0.1:${server.port}/`);
  t.equal(await response.text(), 'ok');
  await server.close();
  t.throws(() => readFileSync(`/proc/${server.pid}/stat`), 'the process is gone after close()');
  await server.close();
});

t.test('a server announcing its port on stdout is believed', async (t) => {
  const script = `${SILENT_SERVER}; server.on('listening', () => console.log(JSON.stringify({ msg: 'listening', port: server.address().port })));`;
  const server = await launchServer({ name: 'chatty', command: process.execPath, args: ['-e', script], env: {}, cwd: process.cwd(), cpuList: null });
  t.teardown(() => server.close());
  t.same(listeningPorts([server.pid]), [server.port]);
});

t.test('a server that dies at start is reported with its error line, not a stack frame', async (t) => {
  const script = "console.error('ConfigError: WEB_PORT must be a port number'); console.error('    at main (x.js:1:1)'); process.exit(1)";
  await t.rejects(
    launchServer({ name: 'broken', command: process.execPath, args: ['-e', script], env: {}, cwd: process.cwd(), cpuList: null }),
    /broken: exited before it was ready \(code 1[\s\S]*WEB_PORT must be a port number/,
  );
  t.equal(summariseStderr(['x', '    at foo (a.js:1:1)', 'Error: boom']), 'Error: boom');
  t.equal(summariseStderr(['a', 'b', 'c', 'd']), 'b\nc\nd');
});

t.test('a server that never listens times out and is killed', async (t) => {
  await t.rejects(
    launchServer({ name: 'mute', command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'], env: {}, cwd: process.cwd(), cpuList: null, readyTimeoutMs: 300 }),
    /mute: not ready within 300 ms/,
  );
});

t.test('the nginx reference config: one worker, the same docroot, keep-alive upstream', async (t) => {
  const config = renderNginxConfig({ port: 18080, webRoot: '/srv/www', upstreamPort: 3001, prefix: '/tmp/n' });
  t.match(config, /worker_processes 1;/);
  t.match(config, /listen 127\.0\.0\.1:18080;/);
  t.match(config, /root \/srv\/www;/);
  t.match(config, /server 127\.0\.0\.1:3001;\s+keepalive \d+;/);
  t.match(config, /proxy_http_version 1\.1;/);
  t.notMatch(renderNginxConfig({ port: 1, webRoot: '/w', upstreamPort: null, prefix: '/p' }), /upstream|proxy_pass/);
  t.notMatch(config, /X-Forwarded-For|X-Request-Id/, 'the bare row sets no edge headers');
  const edge = renderNginxConfig({ port: 18080, webRoot: '/srv/www', upstreamPort: 3001, prefix: '/tmp/n', edgeHeaders: true });
  for (const header of ['X-Forwarded-For', 'X-Forwarded-Proto', 'X-Forwarded-Host', 'Forwarded', 'X-Request-Id', 'Via']) {
    t.match(edge, new RegExp(`proxy_set_header ${header} `), `the edge row sets ${header}, as the web tier does`);
  }
});
