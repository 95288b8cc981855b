/**
 * The TLS settings of the HTTPS listener, fixed here with the reason for each (RFC 9325, "Recommendations
 * for Secure Use of TLS and DTLS", BCP 195; Mozilla's server-side TLS "intermediate" profile, v5.7).
 * Not config keys: an operator who needs other settings should put a terminating proxy in front.
 */
import { constants } from 'node:crypto';
import type { TlsOptions } from 'node:tls';

/**
 * TLS 1.2 suites: ECDHE only (forward secrecy, RFC 9325 §4.1: "MUST NOT negotiate cipher suites
 * offering no forward secrecy" is the direction §4.2.1 recommends), AEAD only (no CBC: Lucky13,
 * RFC 9325 §4.2), the list and order of Mozilla intermediate without its DHE suites (finite-field
 * DHE needs a dhparam file and RFC 9325 §4.5 steers to ECDHE). TLS 1.3's three suites are all
 * AEAD with (EC)DHE and are listed so the order is ours too.
 */
export const CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** The options every secure context and the server share. */
export const TLS_SETTINGS = Object.freeze({
  // RFC 8996 deprecates TLS 1.0 and 1.1; RFC 9325 §3.1.1: TLS 1.2 MUST be supported, 1.3 SHOULD be
  // preferred. SSLv3 and below are not built into node's OpenSSL at all.
  minVersion: 'TLSv1.2',
  maxVersion: 'TLSv1.3',
  ciphers: CIPHERS,
  // Server cipher preference (nginx ssl_prefer_server_ciphers on): the order above decides, not a client
  // that lists a weaker suite first. Every suite offered is AEAD + ECDHE, so this only picks among good ones
  // (Mozilla intermediate leaves it off for that reason; we keep the order deterministic for the scanner).
  honorCipherOrder: true,
  // X25519 first (RFC 9325 §4.2.1 recommends it; Mozilla's order), then the NIST curves for older clients.
  ecdhCurve: 'X25519:prime256v1:secp384r1',
  // No renegotiation (RFC 9325 §3.5: a TLS 1.2 server SHOULD refuse client-initiated renegotiation; it is a
  // DoS lever), no compression (CRIME, RFC 9325 §3.3).
  secureOptions: constants.SSL_OP_NO_RENEGOTIATION | constants.SSL_OP_NO_COMPRESSION,
  // Session resumption: tickets (RFC 5077 / RFC 8446 §2.2) valid for a day (Mozilla's ssl_session_timeout 1d);
  // the ticket keys rotate (ticketKeyRotateSec) so a stolen key exposes at most one period's sessions.
  sessionTimeout: 86_400,
} satisfies TlsOptions);
