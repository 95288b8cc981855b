/**
 * nginx as a reference row (issue 8): one worker, the same docroot, the same app tier behind
 * proxy_pass with keep-alive. Used only when nginx is on PATH; nothing is installed here.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { launchServer, type LaunchedServer } from './launcher.js';

export interface NginxConfigOptions {
  readonly port: number;
  readonly webRoot: string;
  /** App tier port for /api/ and /articles/, or null for a static-only config. */
  readonly upstreamPort: number | null;
  readonly prefix: string;
  /**
   * Set the edge headers the web tier sets on every forwarded request (X-Forwarded-For/-Proto/-Host,
   * Forwarded, X-Request-Id, Via), as a production nginx in front of an app would: the like-for-like row.
   */
  readonly edgeHeaders?: boolean;
  /** Listen with TLS (issue 15's https rows): the same PEM pair as the web tier's. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string } | undefined;
  /**
   * Issue 16's WebSocket rows: proxy /api/live as an upgrade (nginx's documented two lines,
   * `Upgrade` and `Connection`), idle for an hour, with descriptors for this many connections.
   */
  readonly websocket?: { readonly connections: number } | undefined;
  /** worker_processes (1 when absent: every row but the 2-worker idle WebSocket row). */
  readonly workers?: number | undefined;
}

/** nginx's WebSocket proxying as its documentation shows it (https://nginx.org/en/docs/http/websocket.html). */
function renderWebSocket(): string {
  return `
    location = /api/live {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_set_header Host $host;
      # The 60 s default would close the idle row's connections: the web tier's idle timeout is off there too.
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
    }`;
}

/**
 * nginx's TLS the way the web tier's is set (web-tier/tls/settings.ts): TLS 1.2/1.3, the same ECDHE+AEAD
 * suites in the same order, server preference, and a shared session cache with tickets (the issue's
 * "ssl_session_cache"), so the rows compare like with like.
 */
function renderTls(tls: NonNullable<NginxConfigOptions['tls']>): string {
  return `
    ssl_certificate ${tls.certFile};
    ssl_certificate_key ${tls.keyFile};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
    ssl_prefer_server_ciphers on;
    ssl_ecdh_curve X25519:prime256v1:secp384r1;
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets on;
    ssl_session_timeout 1d;`;
}

/** A config as close to the web tier's job as nginx allows: 1 worker, no logs, keep-alive upstream. */
export function renderNginxConfig(options: NginxConfigOptions): string {
  const upstream = options.upstreamPort === null ? '' : `
  upstream app {
    server 127.0.0.1:${options.upstreamPort};
    keepalive 64;
  }`;
  const proxy = options.upstreamPort === null ? '' : `
    location /api/ {
      proxy_pass http://app;
      # nginx speaks HTTP/1.0 upstream and closes by default; keep-alive needs both lines.
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;${options.edgeHeaders === true ? `
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header Forwarded "for=$remote_addr;host=\\"$http_host\\";proto=$scheme";
      proxy_set_header X-Request-Id $request_id;
      proxy_set_header Via "1.1 nginx";` : ''}
    }`;
  // Two descriptors per proxied WebSocket (client and upstream), plus a margin.
  const workerConnections = options.websocket === undefined ? 1024 : Math.max(1024, 2 * options.websocket.connections + 256);
  return `worker_processes ${options.workers ?? 1};${options.websocket === undefined ? '' : `
worker_rlimit_nofile ${workerConnections + 64};`}
daemon off;
pid ${join(options.prefix, 'nginx.pid')};
error_log stderr error;
events { worker_connections ${workerConnections}; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  client_body_temp_path ${join(options.prefix, 'body')};
  proxy_temp_path ${join(options.prefix, 'proxy')};
  fastcgi_temp_path ${join(options.prefix, 'fastcgi')};
  uwsgi_temp_path ${join(options.prefix, 'uwsgi')};
  scgi_temp_path ${join(options.prefix, 'scgi')};${upstream}
  server {
    listen 127.0.0.1:${options.port}${options.tls === undefined ? '' : ' ssl'};
    root ${options.webRoot};${options.tls === undefined ? '' : renderTls(options.tls)}${options.websocket === undefined || options.upstreamPort === null ? '' : renderWebSocket()}${proxy}
  }
}
`;
}

/**
 * nginx cannot listen on port 0 and report it, so here (and only here) a free port is taken
 * from the kernel and handed over; the race with another process is accepted for a reference row.
 */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** nginx prints nothing when ready; a connect that succeeds is the signal. Bounded: 100 tries, 50 ms apart. */
async function waitForPort(port: number): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nginx did not accept connections on ${port}`);
}

export interface StartNginxOptions {
  readonly nginxPath: string;
  readonly workDir: string;
  readonly webRoot: string;
  readonly upstreamPort: number | null;
  readonly edgeHeaders?: boolean;
  readonly tls?: NginxConfigOptions['tls'];
  readonly websocket?: NginxConfigOptions['websocket'];
  readonly workers?: number | undefined;
  readonly cpuList: string | null;
  readonly env: Readonly<Record<string, string>>;
}

export async function startNginx(options: StartNginxOptions): Promise<LaunchedServer> {
  mkdirSync(options.workDir, { recursive: true });
  const port = await freePort();
  const file = join(options.workDir, 'nginx.conf');
  writeFileSync(file, renderNginxConfig({ port, webRoot: options.webRoot, upstreamPort: options.upstreamPort, prefix: options.workDir, edgeHeaders: options.edgeHeaders === true, tls: options.tls, websocket: options.websocket, workers: options.workers }));
  return launchServer({
    name: 'nginx',
    command: options.nginxPath,
    args: ['-p', options.workDir, '-c', file],
    env: options.env,
    cwd: options.workDir,
    cpuList: options.cpuList,
    knownPort: port,
    waitReady: () => waitForPort(port),
  });
}
