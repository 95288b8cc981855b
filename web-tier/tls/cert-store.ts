/**
 * The certificates the HTTPS listener serves: one secure context per PEM chain + key, chosen by
 * the client's SNI name (RFC 6066 §3) among the names in each certificate's subjectAltName, the
 * first pair being the default (no SNI, an IP literal, an unknown name). `load` validates a whole
 * new set before using any of it: a missing file, a key that does not match its certificate, or
 * an expired certificate keeps the set in use and returns one line saying which file and why.
 * Open connections keep the context they were handshaked with; only new handshakes see a new set.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { TLS_SETTINGS } from './settings.js';

/** Lower case; an IPv6 address in its short form (node prints SAN addresses in full: 0:0:0:0:0:0:0:1). */
export function canonicalName(name: string): string {
  const lower = name.trim().toLowerCase();
  return isIP(lower) === 6 ? new URL(`http://[${lower}]/`).hostname.slice(1, -1) : lower;
}

export interface CertPair {
  readonly cert: string;
  readonly key: string;
}

export interface LoadedCert {
  /** DNS names and IP addresses from the leaf's subjectAltName, lower case. */
  readonly names: readonly string[];
  readonly notAfter: Date;
  readonly fingerprint256: string;
  readonly options: SecureContextOptions;
  readonly context: SecureContext;
}

/** One certificate and key pair, from PEM text; throws an Error whose message is the one line to log. */
export function loadPair(certPem: string, keyPem: string, label: string, now = new Date()): LoadedCert {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certPem);
  } catch (error) {
    throw new Error(`${label}: not a PEM certificate (${(error as Error).message})`);
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (error) {
    throw new Error(`${label}: the key file is not a PEM private key (${(error as Error).message})`);
  }
  if (!leaf.checkPrivateKey(key)) throw new Error(`${label}: the key does not match the certificate (${leaf.subject.replace(/\n/g, ', ')})`);
  const notAfter = new Date(leaf.validTo);
  if (notAfter.getTime() <= now.getTime()) throw new Error(`${label}: the certificate expired at ${notAfter.toISOString()}`);
  const names = (leaf.subjectAltName ?? '').split(/,\s*/).flatMap((entry) => {
    const match = /^(DNS|IP Address):(.+)$/.exec(entry.trim());
    return match?.[2] === undefined ? [] : [canonicalName(match[2])];
  });
  const options: SecureContextOptions = { ...TLS_SETTINGS, cert: certPem, key: keyPem };
  return { names, notAfter, fingerprint256: leaf.fingerprint256, options, context: createSecureContext(options) };
}

async function readPair(pair: CertPair): Promise<LoadedCert> {
  const read = async (path: string, what: string): Promise<string> => {
    try {
      return await readFile(path, 'utf8');
    } catch (error) {
      throw new Error(`${path}: cannot read the ${what} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
  };
  const [cert, key] = await Promise.all([read(pair.cert, 'certificate'), read(pair.key, 'key')]);
  return loadPair(cert, key, pair.cert);
}

export interface CertSet {
  readonly certs: readonly LoadedCert[];
  /** The context for an SNI name: exact name, then a `*.` wildcard one label deep (RFC 6125 §6.4.3), then the default. */
  contextFor(servername: string): SecureContext;
  readonly defaultCert: LoadedCert;
}

export function certSet(certs: readonly LoadedCert[]): CertSet {
  const [defaultCert] = certs;
  if (defaultCert === undefined) throw new Error('no certificate');
  const byName = new Map<string, LoadedCert>();
  // The first pair that names a host wins, as nginx takes the first server block.
  for (const cert of certs) for (const name of cert.names) if (!byName.has(name)) byName.set(name, cert);
  return {
    certs,
    defaultCert,
    contextFor(servername) {
      const name = servername.toLowerCase();
      const exact = byName.get(name);
      if (exact !== undefined) return exact.context;
      const dot = name.indexOf('.');
      const wildcard = dot > 0 ? byName.get(`*${name.slice(dot)}`) : undefined;
      return (wildcard ?? defaultCert).context;
    },
  };
}

/** Reads and validates every pair; throws with the first problem's line (nothing is half-applied). */
export async function readCertSet(pairs: readonly CertPair[]): Promise<CertSet> {
  const certs: LoadedCert[] = [];
  for (const pair of pairs) certs.push(await readPair(pair));
  return certSet(certs);
}
