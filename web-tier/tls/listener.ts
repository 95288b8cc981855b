/**
 * The HTTPS listener (issue 15): `https.createServer` wired by the same attachListener as the plain
 * one (server-listener.ts), so the same peer cap, parser-error answers and pipeline stages run on
 * both; only the certificate source differs. The certificates are loaded before it listens, chosen
 * per SNI name (cert-store.ts), replaced on a reload (SIGHUP, `POST /-/reload`: every reload calls
 * each listener's `configure`) and, in `files` mode, when the files change. A set that fails to load
 * keeps the one in use and logs one line. Session ticket keys rotate every ticketKeyRotateSec.
 * In `acme` mode the certificate comes from acme.ts: the stored one at start (if any), each new
 * one swapped in with setSecureContext when it arrives; until the first, handshakes are refused
 * and the plain listener (which answers the CA's HTTP-01 requests) serves as usual.
 */
import { randomBytes } from 'node:crypto';
import { unwatchFile, watchFile } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { IncomingMessage, Server } from 'node:http';
import type { Logger } from '../../common/logger.js';
import { serverOptions } from '../limits.js';
import { WebResponse } from '../response.js';
import { attachListener, type Listener, type ListenerParts } from '../server-listener.js';
import type { AcmeChallenges } from './acme-challenges.js';
import { createAcmeManager, type AcmeManager } from './acme.js';
import { readCertSet, certSet, loadPair, type CertSet } from './cert-store.js';
import type { TlsConfig } from './config.js';
import { TLS_SETTINGS } from './settings.js';

export interface TlsListener extends Listener {
  /** The certificates in use (tests, the status page). */
  readonly certs: () => CertSet | undefined;
  /** Re-reads the certificate source now; false (and one logged line) when the old set was kept. */
  reloadCertificates(): Promise<boolean>;
  /** `acme`: the ACME client (tests read its state); undefined in the other modes. */
  readonly acme: AcmeManager | undefined;
  /** The plain listener is up: `acme` may order now (the CA's HTTP-01 request must find it). */
  onPlainListening(): void;
}

export function createTlsListener(parts: ListenerParts, options: { tls: () => TlsConfig; serverNames: () => readonly string[]; logger: Logger; acmeChallenges?: AcmeChallenges }): TlsListener {
  const { logger } = options;
  const start = options.tls();
  const acme = start.mode !== 'acme' || options.acmeChallenges === undefined ? undefined : createAcmeManager({
    tlsDir: start.dir,
    directoryUrl: start.acmeDirectory,
    email: start.acmeEmail,
    names: options.serverNames,
    renewBeforeDays: start.acmeRenewBeforeDays,
    retryMinMs: start.acmeRetryMinMs,
    retryMaxMs: start.acmeRetryMaxMs,
    challenges: options.acmeChallenges,
    logger,
    // acme.ts checked the pair already; a failure here is logged, never an unhandled rejection.
    onCertificate: () => void reloadCertificates().catch((error: unknown) => logger.error(`tls acme: the new certificate was not loaded: ${(error as Error).message}`)),
  });
  let current: CertSet | undefined;
  let loading: Promise<boolean> | undefined;
  let again = false;
  const server = createHttpsServer<typeof IncomingMessage, typeof WebResponse>({
    ...serverOptions(parts.live.limits),
    ServerResponse: WebResponse,
    ...TLS_SETTINGS,
    // A connection that names a host gets that host's certificate (RFC 6066 §3); the server's own
    // context (setSecureContext below) answers a client that sends no SNI.
    SNICallback: (servername, callback) => {
      if (current === undefined) callback(new Error('no certificate loaded'));
      else callback(null, current.contextFor(servername));
    },
  });
  const base = attachListener(server as unknown as Server, parts);

  async function readSource(): Promise<CertSet> {
    const tls = options.tls();
    if (acme !== undefined) {
      const certificate = acme.current();
      if (certificate === undefined) throw new Error('acme: no certificate obtained yet');
      return certSet([loadPair(certificate.certPem, certificate.keyPem, acme.paths.cert)]);
    }
    if (tls.mode === 'internal') {
      // Loaded only in internal mode: the X.509 library stays out of every other start-up.
      const { ensureInternalLeaf } = await import('./internal-ca.js');
      const leaf = await ensureInternalLeaf(tls.dir, options.serverNames(), tls.leafLifetimeHours);
      if (leaf.caCreated) logger.info({ caCert: leaf.paths.caCert }, 'tls internal: local CA created');
      if (leaf.issued) logger.info({ leafCert: leaf.paths.leafCert, notAfter: leaf.notAfter.toISOString(), renewAt: leaf.renewAt.toISOString() }, 'tls internal: leaf certificate issued');
      scheduleRenewal(leaf.renewAt);
      return certSet([loadPair(leaf.certPem, leaf.keyPem, leaf.paths.leafCert)]);
    }
    return readCertSet(tls.certFiles.map((cert, index) => ({ cert, key: tls.keyFiles[index] ?? '' })));
  }

  let renewTimer: NodeJS.Timeout | undefined;
  function scheduleRenewal(at: Date): void {
    clearTimeout(renewTimer);
    // setTimeout holds at most ~24.8 days; a later renewal point is re-checked then.
    const delay = Math.min(Math.max(at.getTime() - Date.now(), 1_000), 2 ** 31 - 1);
    renewTimer = setTimeout(() => void reloadCertificates(), delay);
    renewTimer.unref();
  }

  async function loadOnce(): Promise<boolean> {
    try {
      const next = await readSource();
      current = next;
      // New handshakes without SNI get the default; open connections keep what they negotiated.
      server.setSecureContext(next.defaultCert.options);
      logger.info({ certificates: next.certs.map((cert) => ({ names: cert.names, notAfter: cert.notAfter.toISOString(), sha256: cert.fingerprint256 })) }, 'tls certificates loaded');
      return true;
    } catch (error) {
      if (current === undefined) throw error;
      logger.error(`tls: keeping the certificates in use: ${(error as Error).message}`);
      return false;
    }
  }

  /** One load at a time; a change during a load loads once more after it. */
  function reloadCertificates(): Promise<boolean> {
    if (loading !== undefined) {
      again = true;
      return loading;
    }
    loading = loadOnce().finally(() => {
      loading = undefined;
      if (again) {
        again = false;
        void reloadCertificates();
      }
    });
    return loading;
  }

  // Session ticket keys (RFC 5077): fresh at start, replaced every period; a ticket sealed under an old key
  // is refused and that client does one full handshake.
  const rotate = (): void => server.setTicketKeys(randomBytes(48));
  let ticketTimer: NodeJS.Timeout | undefined;
  const watched: string[] = [];

  return {
    server: base.server,
    certs: () => current,
    reloadCertificates,
    acme,
    onPlainListening: () => acme?.start(),
    async listen(host, port) {
      // acme: the stored certificate if there is one; with none the port listens and refuses handshakes until the first order.
      if (acme === undefined || (await acme.loadStored()) !== undefined) await loadOnce();
      rotate();
      ticketTimer = setInterval(rotate, options.tls().ticketKeyRotateSec * 1000);
      ticketTimer.unref();
      const tls = options.tls();
      if (tls.mode === 'files' && tls.watchMs > 0) {
        // fs.watchFile polls stat: it survives a rename-into-place (certbot, kubernetes secrets) that fs.watch loses.
        for (const path of [...tls.certFiles, ...tls.keyFiles]) {
          watchFile(path, { interval: tls.watchMs, persistent: false }, (now, before) => {
            if (now.mtimeMs !== before.mtimeMs || now.ino !== before.ino || now.size !== before.size) void reloadCertificates();
          });
          watched.push(path);
        }
      }
      const address = await base.listen(host, port);
      if (tls.mode === 'internal') {
        const caCert = `${tls.dir}/ca.pem`;
        const { trustCommands } = await import('./internal-ca.js');
        const trust = trustCommands(caCert);
        logger.info({ caCert, curl: trust.curl.replace('PORT', String(address.port)), system: trust.system, chromium: trust.chromium }, `tls internal: trust the local CA ${caCert}`);
      }
      return address;
    },
    configure(limits) {
      base.configure(limits);
      // Called on every reload (server-reload.ts): the certificate files are re-read with it.
      if (current !== undefined) void reloadCertificates();
    },
    async close(boundMs) {
      clearInterval(ticketTimer);
      clearTimeout(renewTimer);
      acme?.close();
      for (const path of watched.splice(0)) unwatchFile(path);
      await base.close(boundMs);
    },
  };
}
