/**
 * `WEB_TLS=acme` (RFC 8555): one certificate for WEB_SERVER_NAMES, ordered from
 * WEB_ACME_DIRECTORY with the HTTP-01 challenge (§8.3) answered on the plain listener from
 * acme-challenges.ts, and renewed ahead of expiry on a timer. The protocol is acme-client's
 * (loaded only in this mode); this file decides when to order, what is stored and what is kept.
 *
 * Stored under `dir`/acme/ (dir 0700, every file 0600, each written atomically by tls-files.ts):
 * `account-key.pem` (made once and reused: the account is found again by its key, §7.3.1),
 * `cert.pem` (the chain as issued, leaf first) and `cert-key.pem`. Nothing is written until a new
 * certificate is in hand and checked against its key and the names, so a failed order or renewal
 * leaves the stored pair as it was, and the listener keeps serving it.
 *
 * When: at start a stored pair that covers the names and is before its renewal point is reused
 * (a restart never orders: no burst of orders on a crash loop); else one order runs once the plain
 * listener is up (the CA must reach it for HTTP-01). Renewal is at 2/3 of the lifetime, as
 * Let's Encrypt's integration guide and Caddy do, or renewBeforeDays before expiry when that is
 * earlier. A failed order is retried after retryMinMs, doubling up to retryMaxMs.
 */
import { X509Certificate } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import type { Logger } from '../../common/logger.js';
import type { AcmeChallenges } from './acme-challenges.js';
import { canonicalName, loadPair } from './cert-store.js';
import { readOptional, writeAtomic } from './tls-files.js';

export interface AcmePaths {
  readonly dir: string;
  readonly accountKey: string;
  readonly cert: string;
  readonly certKey: string;
}

export function acmePaths(tlsDir: string): AcmePaths {
  const dir = join(tlsDir, 'acme');
  return { dir, accountKey: join(dir, 'account-key.pem'), cert: join(dir, 'cert.pem'), certKey: join(dir, 'cert-key.pem') };
}

export interface AcmeCertificate {
  readonly certPem: string;
  readonly keyPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly renewAt: Date;
}

export interface AcmeOptions {
  readonly tlsDir: string;
  readonly directoryUrl: string;
  readonly email: string;
  readonly names: () => readonly string[];
  readonly renewBeforeDays: number;
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
  readonly challenges: AcmeChallenges;
  readonly logger: Logger;
  /** A new certificate is stored: swap it in (listener.ts). */
  readonly onCertificate: (certificate: AcmeCertificate) => void;
}

export interface AcmeManager {
  readonly paths: AcmePaths;
  /** The pending HTTP-01 tokens (the pipeline answers from them). */
  readonly challenges: AcmeChallenges;
  /** The certificate to serve now: the last one obtained, else the stored one; undefined before the first. */
  current(): AcmeCertificate | undefined;
  /** Reads the stored pair (at start, before the HTTPS listener listens). */
  loadStored(): Promise<AcmeCertificate | undefined>;
  /** Orders now if the stored pair will not do, else sets the renewal timer. Call once the plain listener is up. */
  start(): void;
  /** Resolves when no order is running (tests). */
  idle(): Promise<void>;
  close(): void;
}

export function renewalPoint(notBefore: Date, notAfter: Date, renewBeforeDays: number): Date {
  const twoThirds = notBefore.getTime() + ((notAfter.getTime() - notBefore.getTime()) * 2) / 3;
  const daysBefore = renewBeforeDays > 0 ? notAfter.getTime() - renewBeforeDays * 86_400_000 : Infinity;
  return new Date(Math.min(twoThirds, daysBefore));
}

function covers(certPem: string, names: readonly string[]): boolean {
  const san = new X509Certificate(certPem).subjectAltName ?? '';
  const have = new Set(san.split(/,\s*/).map((entry) => canonicalName(entry.replace(/^DNS:/, ''))));
  return names.every((name) => have.has(canonicalName(name)));
}

/**
 * The directory (RFC 8555 §7.1.1) fetched before each order with node's own client, so that an
 * unreachable or wrong URL is one clear line: acme-client retries a network error five times over
 * 75 s and then fails with a TypeError that has lost the cause (its axios interceptor reads
 * `response.config` of an error that has no response).
 */
export function fetchDirectory(directoryUrl: string, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = httpsGet(directoryUrl, { headers: { Accept: 'application/json' }, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < 65_536) body += chunk;
      });
      res.on('end', () => {
        let directory: { newOrder?: unknown } | undefined;
        try {
          directory = JSON.parse(body) as { newOrder?: unknown };
        } catch {
          directory = undefined;
        }
        if (res.statusCode === 200 && typeof directory?.newOrder === 'string') resolve();
        else reject(new Error(`${directoryUrl} is not an ACME directory (HTTP ${res.statusCode ?? '?'}, no newOrder URL)`));
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer in ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', (error: NodeJS.ErrnoException) => reject(new Error(`cannot reach the ACME directory ${directoryUrl} (${error.code ?? error.message})`)));
  });
}

/** One line for a failed order: the CA's problem document (RFC 8555 §6.7), or what went wrong. */
export function describeAcmeError(error: unknown): string {
  return ((error as Error).message ?? String(error)).replace(/\s+/g, ' ').trim();
}

export function createAcmeManager(options: AcmeOptions): AcmeManager {
  const { logger } = options;
  const paths = acmePaths(options.tlsDir);
  let current: AcmeCertificate | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let failures = 0;
  let closed = false;

  function schedule(at: Date, why: string): void {
    clearTimeout(timer);
    if (closed) return;
    // setTimeout holds at most ~24.8 days; a later renewal point is re-checked then.
    const delay = Math.min(Math.max(at.getTime() - Date.now(), 0), 2 ** 31 - 1);
    timer = setTimeout(() => void run(), delay);
    timer.unref();
    logger.info({ at: at.toISOString(), inMs: delay }, `tls acme: next order ${why}`);
  }

  function certificateOf(certPem: string, keyPem: string, label: string): AcmeCertificate {
    // loadPair: the key matches, the certificate has not expired (throws its one line otherwise).
    const loaded = loadPair(certPem, keyPem, label);
    const notBefore = new Date(new X509Certificate(certPem).validFrom);
    return { certPem, keyPem, notBefore, notAfter: loaded.notAfter, renewAt: renewalPoint(notBefore, loaded.notAfter, options.renewBeforeDays) };
  }

  async function accountKey(): Promise<string> {
    const stored = await readOptional(paths.accountKey);
    if (stored !== undefined) return stored;
    const acme = await import('acme-client');
    // ECDSA P-256: ES256 is the JWS algorithm every ACME server accepts (RFC 8555 §6.2 requires ES256 support).
    const key = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
    await writeAtomic(paths.accountKey, key, 0o600);
    logger.info({ accountKey: paths.accountKey }, 'tls acme: account key created');
    return key;
  }

  async function order(): Promise<AcmeCertificate> {
    const names = [...options.names()];
    await fetchDirectory(options.directoryUrl);
    const acme = await import('acme-client');
    await mkdir(paths.dir, { recursive: true, mode: 0o700 });
    const client = new acme.Client({ directoryUrl: options.directoryUrl, accountKey: await accountKey(), backoffMin: 500, backoffMax: 10_000, backoffAttempts: 12 });
    const [keyBuffer, csr] = await acme.crypto.createCsr({ commonName: names[0] ?? '', altNames: names }, await acme.crypto.createPrivateEcdsaKey('P-256'));
    logger.info({ names, directory: options.directoryUrl }, 'tls acme: ordering a certificate');
    const chain = await client.auto({
      csr,
      ...(options.email === '' ? {} : { email: options.email }),
      // The operator who sets WEB_ACME_DIRECTORY chooses the CA and its terms (RFC 8555 §7.3).
      termsOfServiceAgreed: true,
      challengePriority: ['http-01'],
      // acme-client's own pre-check fetches the token through this box's resolver, which may not see
      // the public address (NAT, split DNS); the CA's validation is the one that counts.
      skipChallengeVerification: true,
      challengeCreateFn: async (_authz, challenge, keyAuthorization) => options.challenges.add(challenge.token, keyAuthorization),
      challengeRemoveFn: async (_authz, challenge) => options.challenges.remove(challenge.token),
    });
    const keyPem = keyBuffer.toString();
    const certificate = certificateOf(chain, keyPem, 'the ACME server\'s certificate');
    if (!covers(chain, names)) throw new Error(`the ACME server's certificate does not name every one of ${names.join(', ')}`);
    // The key first: a crash between the two renames leaves a mismatched pair, which the next start
    // refuses (loadPair) and re-orders, never serves.
    await writeAtomic(paths.certKey, keyPem, 0o600);
    await writeAtomic(paths.cert, chain, 0o600);
    return certificate;
  }

  async function runOnce(): Promise<void> {
    try {
      const fresh = await order();
      if (closed) return;
      failures = 0;
      current = fresh;
      logger.info({ names: options.names(), notAfter: fresh.notAfter.toISOString(), renewAt: fresh.renewAt.toISOString(), cert: paths.cert }, 'tls acme: certificate obtained');
      options.onCertificate(fresh);
      schedule(fresh.renewAt, 'to renew');
    } catch (error) {
      if (closed) return;
      const delay = Math.min(options.retryMinMs * 2 ** failures, options.retryMaxMs);
      failures += 1;
      const kept = current === undefined ? 'no certificate yet: the HTTPS port refuses handshakes, the plain listener serves' : `the certificate in use is kept (until ${current.notAfter.toISOString()})`;
      logger.error({ names: options.names(), directory: options.directoryUrl, retryInMs: delay, failures }, `tls acme: order failed: ${describeAcmeError(error)}; ${kept}; retrying in ${Math.round(delay / 1000)} s`);
      schedule(new Date(Date.now() + delay), 'to retry');
    }
  }

  function run(): Promise<void> {
    running ??= runOnce().finally(() => {
      running = undefined;
    });
    return running;
  }

  return {
    paths,
    challenges: options.challenges,
    current: () => current,
    async loadStored() {
      const [certPem, keyPem] = await Promise.all([readOptional(paths.cert), readOptional(paths.certKey)]);
      if (certPem === undefined || keyPem === undefined) return undefined;
      try {
        const stored = certificateOf(certPem, keyPem, paths.cert);
        if (!covers(certPem, options.names())) {
          logger.warn({ cert: paths.cert, names: options.names() }, 'tls acme: the stored certificate does not cover every name; served until a new one is obtained');
          current = { ...stored, renewAt: new Date(0) };
        } else {
          current = stored;
        }
        logger.info({ cert: paths.cert, notAfter: stored.notAfter.toISOString(), renewAt: current.renewAt.toISOString() }, 'tls acme: using the stored certificate');
        return current;
      } catch (error) {
        // An expired or mismatched pair is not served; it stays on disk until a new one replaces it.
        logger.warn(`tls acme: not using the stored certificate: ${(error as Error).message}`);
        return undefined;
      }
    },
    start() {
      if (current !== undefined && current.renewAt.getTime() > Date.now()) schedule(current.renewAt, 'to renew');
      else void run();
    },
    idle: async () => {
      await running;
    },
    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}
