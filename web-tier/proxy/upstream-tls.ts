/**
 * TLS from the web tier to the app tier (issue 15, multi-box: web → app across an untrusted
 * network). An https:// upstream is verified like any TLS client verifies a server: the chain
 * against WEB_UPSTREAM_CA (or node's default trust store), the name against the upstream's
 * configured host (RFC 9110 §4.3.4, RFC 6125). Nothing here turns verification off, and a
 * failure is never retried in clear: the request fails with WEB_ERR_UPSTREAM_TLS (502).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { ConfigError } from '../../common/config.js';

/** What every TLS connection to the upstreams takes: the trust anchors (undefined = node's default store). */
export interface UpstreamTlsOptions {
  readonly ca: string | undefined;
}

/** The setting named in every error (a config file's proxy.upstreamCaFile is the same setting). */
const KEY = 'WEB_UPSTREAM_CA';

/**
 * Reads and checks the CA file: readable, and holding at least one PEM certificate that parses.
 * Throws ConfigError naming WEB_UPSTREAM_CA otherwise: a CA file that says nothing would make
 * every upstream fail to verify, which is better said once at start than as 502s.
 */
export function readUpstreamCa(file: string): string | undefined {
  if (file === '') return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(KEY, `${KEY}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
  }
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new ConfigError(KEY, `${KEY}: ${file} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)`);
  for (const [index, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw new ConfigError(KEY, `${KEY}: certificate ${index + 1} in ${file} does not parse (${(error as Error).message})`, { cause: error });
    }
  }
  return text;
}

/**
 * The name a connection to `hostname` sends as SNI and checks the certificate against. An IP
 * address is never sent as SNI (RFC 6066 §3: "Literal IPv4 and IPv6 addresses are not permitted");
 * '' tells node to send none, and the identity check then matches the address against the
 * certificate's IP SANs.
 */
export function tlsServername(hostname: string): string {
  return isIP(hostname) === 0 ? hostname : '';
}

/**
 * OpenSSL's verify results (X509_V_ERR_*, as node names them) and node's own identity check:
 * the certificate chain or name did not verify. Raised at the end of the handshake, before a byte
 * of the request leaves (node writes an https request only once the socket is secure).
 */
const VERIFY_FAILURES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'CERT_CHAIN_TOO_LONG', 'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID', 'CERT_HAS_EXPIRED', 'CERT_REVOKED', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'INVALID_CA',
  'INVALID_PURPOSE', 'PATH_LENGTH_EXCEEDED', 'HOSTNAME_MISMATCH', 'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY', 'ERR_TLS_CERT_ALTNAME_INVALID',
  // The upstream answered in plain HTTP (or something else that is not TLS) on an https:// address.
  'ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_HTTP_REQUEST',
]);

/** True when the TLS handshake with the upstream failed: certificate or name not verified, or no TLS there. */
export function isTlsHandshakeFailure(code: string): boolean {
  return VERIFY_FAILURES.has(code);
}

/** Any TLS-layer failure: a handshake failure, or another OpenSSL/node TLS error (alert received, protocol). */
export function isTlsFailure(code: string): boolean {
  return VERIFY_FAILURES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code === 'EPROTO';
}

/**
 * The TLS options for one upstream group: undefined when its upstreams are http://, the trust
 * anchors when they are https://. A group mixing the two is refused here too (proxy/config.ts
 * refuses it in config; this guards every other way a group is built).
 */
export function upstreamTlsFor(urls: readonly (string | { readonly url: string })[], caFile: string): UpstreamTlsOptions | undefined {
  const schemes = new Set(urls.map((entry) => (typeof entry === 'string' ? entry : entry.url).startsWith('https:')));
  if (schemes.size > 1) throw new TypeError('upstreams must be all http:// or all https:// (a group mixing them could send a request in clear)');
  return schemes.has(true) ? { ca: readUpstreamCa(caFile) } : undefined;
}
