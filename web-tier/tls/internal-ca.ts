/**
 * `WEB_TLS=internal` (Caddy's `tls internal`, mkcert): a local certificate authority kept under
 * `dir` (data/tls/ by default) and a leaf it signs for the configured names plus localhost,
 * 127.0.0.1 and ::1. The CA is made once (10 years) and reused; the leaf is reused while it covers
 * the names and is younger than 2/3 of its lifetime, else a new one is issued. Keys are ECDSA P-256
 * (RFC 9325 §4.2.1 / Mozilla intermediate accept it; small and fast to sign) written with mode 0600.
 * X.509 building is @peculiar/x509 over node's WebCrypto (no OpenSSL command line needed).
 */
import { webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
// @peculiar/x509's dependency injection (tsyringe) needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { canonicalName } from './cert-store.js';
import { readOptional, writeAtomic } from './tls-files.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const CA_YEARS = 10;
export const ALWAYS_NAMES = Object.freeze(['localhost', '127.0.0.1', '::1']);

export interface InternalPaths {
  readonly caCert: string;
  readonly caKey: string;
  readonly leafCert: string;
  readonly leafKey: string;
}

export function internalPaths(dir: string): InternalPaths {
  return { caCert: join(dir, 'ca.pem'), caKey: join(dir, 'ca-key.pem'), leafCert: join(dir, 'leaf.pem'), leafKey: join(dir, 'leaf-key.pem') };
}

export interface InternalLeaf {
  readonly paths: InternalPaths;
  /** The leaf and the CA, leaf first (a chain clients can build from the CA alone). */
  readonly certPem: string;
  readonly keyPem: string;
  readonly notAfter: Date;
  /** When the leaf should be replaced: 2/3 of its lifetime. */
  readonly renewAt: Date;
  /** True when this call issued a new leaf (false: the stored one was reused). */
  readonly issued: boolean;
  readonly caCreated: boolean;
}

function pemKey(der: ArrayBuffer): string {
  const base64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n');
  return `-----BEGIN PRIVATE KEY-----\n${base64}-----END PRIVATE KEY-----\n`;
}

async function importKey(pem: string): Promise<webcrypto.CryptoKey> {
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  return webcrypto.subtle.importKey('pkcs8', der, ALG, true, ['sign']) as Promise<webcrypto.CryptoKey>;
}

function serial(): string {
  // RFC 5280 §4.1.2.2: positive, ≤ 20 octets; CA/B Forum wants ≥ 64 bits of randomness.
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return Buffer.from(bytes).toString('hex');
}

async function ensureCa(paths: InternalPaths, now: Date): Promise<{ cert: x509.X509Certificate; key: webcrypto.CryptoKey; pem: string; created: boolean }> {
  const [certPem, keyPem] = await Promise.all([readOptional(paths.caCert), readOptional(paths.caKey)]);
  if (certPem !== undefined && keyPem !== undefined) {
    const cert = new x509.X509Certificate(certPem);
    if (cert.notAfter.getTime() > now.getTime()) return { cert, key: await importKey(keyPem), pem: certPem, created: false };
  }
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as webcrypto.CryptoKeyPair;
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CA_YEARS);
  const name = `CN=twotier local CA ${now.toISOString().slice(0, 10)} ${serial().slice(0, 8)}, O=twotier development CA`;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter,
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pem = cert.toString('pem') + '\n';
  await writeAtomic(paths.caKey, pemKey(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)), 0o600);
  await writeAtomic(paths.caCert, pem, 0o644);
  return { cert, key: keys.privateKey, pem, created: true };
}

function covers(leafPem: string, names: readonly string[]): boolean {
  const san = new NodeX509(leafPem).subjectAltName ?? '';
  const have = new Set(san.split(/,\s*/).map((entry) => canonicalName(entry.replace(/^(DNS|IP Address):/, ''))));
  return names.every((name) => have.has(canonicalName(name)));
}

/**
 * The leaf to serve: the stored one if it is signed by the stored CA, covers `names` and is before
 * its renewal point; otherwise a new one. `names` are the configured server names; localhost and
 * the loopback addresses are always added.
 */
export async function ensureInternalLeaf(dir: string, serverNames: readonly string[], lifetimeHours: number, now = new Date()): Promise<InternalLeaf> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const paths = internalPaths(dir);
  const ca = await ensureCa(paths, now);
  const names = [...new Set([...serverNames.map((name) => name.toLowerCase()), ...ALWAYS_NAMES])];
  const [storedCert, storedKey] = await Promise.all([readOptional(paths.leafCert), readOptional(paths.leafKey)]);
  if (!ca.created && storedCert !== undefined && storedKey !== undefined) {
    const leaf = new NodeX509(storedCert);
    const notBefore = new Date(leaf.validFrom);
    const notAfter = new Date(leaf.validTo);
    const renewAt = new Date(notBefore.getTime() + ((notAfter.getTime() - notBefore.getTime()) * 2) / 3);
    if (renewAt.getTime() > now.getTime() && covers(storedCert, names) && leaf.checkIssued(new NodeX509(ca.pem))) {
      return { paths, certPem: storedCert, keyPem: storedKey, notAfter, renewAt, issued: false, caCreated: false };
    }
  }
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as webcrypto.CryptoKeyPair;
  const notBefore = new Date(now.getTime() - 60_000);
  const notAfter = new Date(now.getTime() + lifetimeHours * 3_600_000);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${names[0] ?? 'localhost'}`,
    issuer: ca.cert.subject,
    notBefore,
    notAfter,
    signingKey: ca.key,
    publicKey: keys.publicKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names.map((name) => (isIP(name) === 0 ? { type: 'dns', value: name } : { type: 'ip', value: name }))),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const certPem = `${cert.toString('pem')}\n${ca.pem}`;
  const keyPem = pemKey(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  await writeAtomic(paths.leafKey, keyPem, 0o600);
  await writeAtomic(paths.leafCert, certPem, 0o644);
  const renewAt = new Date(notBefore.getTime() + ((notAfter.getTime() - notBefore.getTime()) * 2) / 3);
  return { paths, certPem, keyPem, notAfter, renewAt, issued: true, caCreated: ca.created };
}

/** The commands that make clients trust the CA: printed in the start-up banner. */
export function trustCommands(caCert: string): { curl: string; system: string; chromium: string } {
  return {
    curl: `curl --cacert ${caCert} https://localhost:PORT/`,
    system: `sudo cp ${caCert} /usr/local/share/ca-certificates/twotier-local-ca.crt && sudo update-ca-certificates`,
    chromium: `certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n twotier-local-ca -i ${caCert}`,
  };
}
