/**
 * The https rows (issue 15's performance section): the web tier with WEB_TLS=files beside nginx
 * with the same certificate and `ssl_session_cache`, a 1 KiB static file and the proxied echo over
 * keep-alive TLS, and a new TLS connection per request: full handshakes (autocannon never offers
 * a session to resume) and resumed ones (bench/tls-resume-load.ts). One more row puts TLS on the hop to the app tier (APP_UPSTREAMS=https://,
 * WEB_UPSTREAM_CA, APP_TLS_CERT/APP_TLS_KEY) to show what upstream TLS costs against the plain hop.
 * The certificate is made once per run by the web tier's own local CA (tls/internal-ca.ts).
 */
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:tls';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { distPath, webNodeFlags } from './environment.js';
import { launchServer, type LaunchedServer } from './launcher.js';
import { listeningPorts } from './listen-ports.js';
import { startNginx } from './nginx.js';
import type { RunningScenario, Scenario, ScenarioContext } from './scenarios.js';
import { startAppTier, startWebTier } from './scenarios.js';

/** The run's certificate: a leaf for localhost/127.0.0.1 and the CA that signed it. */
export interface BenchCert {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
  readonly caPem: string;
}

const certs = new Map<string, Promise<BenchCert>>();

/** Made once per run (per scratch dir) with the project's internal CA, so both servers serve the same pair. */
export function benchCert(ctx: ScenarioContext): Promise<BenchCert> {
  let made = certs.get(ctx.workDir);
  if (made === undefined) {
    made = (async () => {
      const dir = join(ctx.workDir, 'tls');
      // dist/, like the servers: the bench measures the built tiers with the built tooling.
      const { ensureInternalLeaf } = await import(pathToFileURL(distPath('web-tier', 'tls', 'internal-ca.js')).href) as typeof import('../web-tier/tls/internal-ca.js');
      const leaf = await ensureInternalLeaf(dir, ['localhost'], 24);
      const { readFile } = await import('node:fs/promises');
      return { certFile: leaf.paths.leafCert, keyFile: leaf.paths.leafKey, caFile: leaf.paths.caCert, caPem: await readFile(leaf.paths.caCert, 'utf8') };
    })();
    certs.set(ctx.workDir, made);
  }
  return made;
}

/** Does a TLS handshake verified against `ca` (name localhost) complete on this port? */
function speaksTls(port: number, ca: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.setTimeout(2_000, () => socket.destroy());
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
}

/**
 * The web tier's HTTPS port: it listens on two ports (WEB_TLS_PORT=0 and WEB_PORT=0) and logs
 * nothing at LOG_LEVEL=silent, so both are read from /proc and the one that completes a verified
 * handshake is it. Bounded: 100 tries, 50 ms apart.
 */
async function tlsPortOf(server: LaunchedServer, ca: string): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const ports = listeningPorts([server.pid]);
    if (ports.length >= 2) {
      for (const port of ports) if (await speaksTls(port, ca)) return port;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${server.name}: no port completed a TLS handshake`);
}

function tlsEnv(cert: BenchCert): Record<string, string> {
  return { WEB_TLS: 'files', WEB_TLS_PORT: '0', WEB_TLS_REDIRECT: 'off', WEB_TLS_CERT_FILES: cert.certFile, WEB_TLS_KEY_FILES: cert.keyFile, WEB_TLS_WATCH_MS: '0' };
}

/** A new connection for every request: the server closes after each answer, autocannon connects again. */
const NEW_CONNECTION = { Connection: 'close' } as const;

/**
 * Resumed handshakes: not autocannon but bench/tls-resume-load.ts, one GET with Connection: close per
 * connection, each offering the session ticket of its loop's previous connection (TLS 1.3).
 */
const RESUMED = 'resumed';

function scenarioOf(url: string, servedBy: string | null, servers: readonly LaunchedServer[], cert: BenchCert, headers?: Readonly<Record<string, string>> | typeof RESUMED): RunningScenario {
  return {
    url,
    servedBy,
    ca: cert.caPem,
    ...(headers === undefined ? {} : headers === RESUMED ? { tlsResume: { ca: cert.caPem, servername: 'localhost', maxVersion: 'TLSv1.3' as const } } : { headers }),
    pids: servers.map((server) => server.pid),
    close: async () => {
      for (const server of servers) await server.close();
    },
  };
}

/** Starts the front server; stops `back` (when there is one) if that fails. */
async function frontOf(back: LaunchedServer | undefined, front: () => Promise<LaunchedServer>): Promise<LaunchedServer> {
  if (back === undefined) return front();
  try {
    return await front();
  } catch (error) {
    await back.close();
    throw error;
  }
}

const always = (): null => null;

/** A row over the run's certificate, made before `start` runs; it runs wherever the tiers do unless `more` says otherwise. */
function certRow(name: string, description: string, start: (ctx: ScenarioContext, cert: BenchCert) => Promise<RunningScenario>, more: Partial<Pick<Scenario, 'skipReason' | 'optIn'>> = {}): Scenario {
  return { name, description, skipReason: always, ...more, start: async (ctx) => start(ctx, await benchCert(ctx)) };
}

function webHttpsRow(name: string, description: string, path: string, proxied: boolean, headers?: Readonly<Record<string, string>> | typeof RESUMED): Scenario {
  return certRow(name, description, async (ctx, cert) => {
    const app = proxied ? await startAppTier(ctx, 1, name) : undefined;
    const upstream = app === undefined ? 'http://127.0.0.1:9' : `http://127.0.0.1:${app.port}`;
    const web = await frontOf(app, () => startWebTier(ctx, 'proxy', upstream, name, { env: tlsEnv(cert) }));
    const servers = app === undefined ? [web] : [web, app];
    try {
      const port = await tlsPortOf(web, cert.caPem);
      return scenarioOf(`https://127.0.0.1:${port}${path}`, proxied ? 'app' : 'static', servers, cert, headers);
    } catch (error) {
      for (const server of servers) await server.close();
      throw error;
    }
  });
}

function nginxHttpsRow(name: string, description: string, path: string, withApp: boolean, headers?: Readonly<Record<string, string>> | typeof RESUMED): Scenario {
  return certRow(name, description, async (ctx, cert) => {
    const nginxPath = ctx.nginxPath as string;
    const app = withApp ? await startAppTier(ctx, 1, name) : undefined;
    const nginx = await frontOf(app, () => startNginx({ nginxPath, workDir: join(ctx.workDir, name), webRoot: ctx.webRoot, upstreamPort: app?.port ?? null, cpuList: ctx.serverCpus, env: ctx.serverEnv, tls: { certFile: cert.certFile, keyFile: cert.keyFile } }));
    return scenarioOf(`https://127.0.0.1:${nginx.port}${path}`, null, app === undefined ? [nginx] : [nginx, app], cert, headers);
  }, { skipReason: (ctx) => (ctx.nginxPath === null ? 'nginx is not on PATH' : null) });
}

/**
 * node:https alone (bench/node-https-server.ts): the web tier's TLS settings and Node flags, the
 * same certificate, the file from memory. Not a reference to beat but a floor: the share of the
 * web tier's CPU per resumed connection that is Node's own (socket, TLS, HTTP parser and response).
 */
function nodeHttpsRow(name: string, description: string, path: string, headers?: typeof RESUMED): Scenario {
  // Opt-in (--scenarios or --compare https): it explains a figure, the default run does not need it.
  return certRow(name, description, async (ctx, cert) => {
    const server = await launchServer({
      name: 'node:https alone',
      command: process.execPath,
      args: [...webNodeFlags(ctx.root), distPath('bench', 'node-https-server.js'), cert.certFile, cert.keyFile, ctx.webRoot, path],
      env: { ...ctx.serverEnv, NODE_ENV: 'production' },
      cwd: ctx.root,
      cpuList: ctx.serverCpus,
    });
    return scenarioOf(`https://127.0.0.1:${server.port}${path}`, null, [server], cert, headers);
  }, { optIn: true });
}

/** The web tier (plain listener) → the app tier over TLS, verified against the run's CA. */
function upstreamTlsRow(name: string, description: string): Scenario {
  return certRow(name, description, async (ctx, cert) => {
    // One worker: listening means serving (the readiness check of startAppTier asks over plain HTTP).
    const app = await launchServer({
      name: 'app tier (1 worker, TLS)',
      command: process.execPath,
      args: [distPath('app-tier', 'main.js')],
      env: { ...ctx.serverEnv, APP_HOST: '127.0.0.1', APP_PORT: '0', APP_WORKERS: '1', DATABASE_URL: `sqlite:${join(ctx.workDir, `${name}.db`)}`, APP_TLS_CERT: cert.certFile, APP_TLS_KEY: cert.keyFile },
      cwd: ctx.root,
      cpuList: ctx.serverCpus,
    });
    const web = await frontOf(app, () => startWebTier(ctx, 'proxy', `https://localhost:${app.port}`, name, { env: { WEB_UPSTREAM_CA: cert.caFile } }));
    return { url: `http://127.0.0.1:${web.port}/api/echo`, servedBy: 'app', pids: [web.pid, app.pid], close: async () => { await web.close(); await app.close(); } };
  });
}

/** The https rows, twotier first, each beside its nginx reference. */
export function httpsScenarios(): Scenario[] {
  return [
    webHttpsRow('https-static-1k', 'web tier, WEB_TLS=files: the 1 KiB static file over TLS, keep-alive', '/1k.txt', false),
    nginxHttpsRow('nginx-https-static-1k', 'nginx, 1 worker, the same certificate, ssl_session_cache: the same 1 KiB file over TLS, keep-alive', '/1k.txt', false),
    // Issue 15, keep-alive: the same floor as node-https-static-1k-resumed, over kept-alive connections. Its CPU ms per request
    // splits the web tier's (https-static-1k) into Node's own share (sockets, TLS records, HTTP parser and response) and the web tier's.
    nodeHttpsRow('node-https-static-1k', 'node:https alone (bench/node-https-server.ts, not the web tier): the web tier\'s TLS settings and Node flags, the same certificate, the 1 KiB file from memory over TLS, keep-alive: Node\'s own share of https-static-1k\'s cost', '/1k.txt'),
    webHttpsRow('https-proxy-echo', 'web tier, WEB_TLS=files → app tier with 1 worker: /api/echo over TLS at the edge, keep-alive', '/api/echo', true),
    nginxHttpsRow('nginx-https-proxy-echo', 'nginx, 1 worker, the same certificate, proxy_pass with keep-alive → app tier with 1 worker: /api/echo over TLS', '/api/echo', true),
    webHttpsRow('https-static-1k-new-conn', 'web tier, WEB_TLS=files: the 1 KiB file, a new TLS connection (full handshake) per request', '/1k.txt', false, NEW_CONNECTION),
    nginxHttpsRow('nginx-https-static-1k-new-conn', 'nginx, the same certificate: the 1 KiB file, a new TLS connection (full handshake) per request', '/1k.txt', false, NEW_CONNECTION),
    webHttpsRow('https-static-1k-resumed', 'web tier, WEB_TLS=files: the 1 KiB file, a new TLS 1.3 connection per request resuming the previous one\'s session (bench/tls-resume-load.ts)', '/1k.txt', false, RESUMED),
    nginxHttpsRow('nginx-https-static-1k-resumed', 'nginx, the same certificate, ssl_session_cache and tickets: the 1 KiB file, a new TLS 1.3 connection per request resuming the previous one\'s session', '/1k.txt', false, RESUMED),
    nodeHttpsRow('node-https-static-1k-resumed', 'node:https alone (bench/node-https-server.ts, not the web tier): the web tier\'s TLS settings and Node flags, the same certificate, the 1 KiB file from memory, a new TLS 1.3 connection per request resuming the previous one\'s session: Node\'s own share of the web tier\'s cost', '/1k.txt', RESUMED),
    upstreamTlsRow('proxy-echo-upstream-tls', 'web tier → app tier with 1 worker over TLS (APP_UPSTREAMS=https://, WEB_UPSTREAM_CA; APP_TLS_CERT/APP_TLS_KEY): /api/echo, keep-alive on both hops'),
  ];
}

/** One GET verified against `ca`, for run.ts's answer check (fetch cannot be given a CA). */
export function httpsGet(url: string, ca: string, headers: Readonly<Record<string, string>> = {}): Promise<{ status: number; servedBy: string | null; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, servername: 'localhost', headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, servedBy: (res.headers['x-served-by'] as string | undefined) ?? null, body }));
    });
    req.setTimeout(15_000, () => req.destroy(new Error('timeout')));
    req.once('error', reject);
    req.end();
  });
}
