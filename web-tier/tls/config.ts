/**
 * HTTPS at the edge (issue 15): the `tls` section. `mode` off (the default: `npm start` is plain
 * HTTP only), `files` (PEM chain + key pairs, names read from each certificate's SANs; the first
 * pair is the default for an unknown or absent SNI name) or `internal` (a local CA under `dir`,
 * like Caddy's `tls internal` / mkcert) or `acme` (RFC 8555: certificates for WEB_SERVER_NAMES
 * ordered from WEB_ACME_DIRECTORY with HTTP-01 answered on the plain listener; tls/acme.ts). The protocol and cipher settings are not keys: they are
 * fixed, with their reasons, in tls/settings.ts. Validated by web-tier/config.ts.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { fields, type Frozen } from '../../common/config.js';

export const tlsSchema = z.object({
  mode: z.enum(['off', 'files', 'internal', 'acme'], { error: 'must be one of off, files, internal, acme' }),
  /** The HTTPS listener's port (on server.host); 0 = any free port. */
  port: fields.port(),
  /** With TLS on, the plain listener answers 301/308 to https (except the ACME challenge path and /healthz). */
  redirect: z.boolean({ error: 'must be true or false' }),
  /** Strict-Transport-Security max-age in seconds, sent over TLS only (RFC 6797 §7.2); 0 = no header. */
  hstsMaxAgeSec: fields.nonNegativeInt('a number of seconds (0 = off)'),
  /** `files`: certificate chain files (PEM, leaf first), paired by position with keyFiles; the first is the default. */
  certFiles: z.array(z.string().min(1, 'must be a file path'), { error: 'must be a list of file paths' }),
  keyFiles: z.array(z.string().min(1, 'must be a file path'), { error: 'must be a list of file paths' }),
  /** `files`: how often the files are checked for a change (fs.watchFile polling survives rename-into-place); 0 = only on reload. */
  watchMs: fields.nonNegativeInt('a number of milliseconds (0 = off)'),
  /** `internal`: where the local CA and its leaf live (the keys mode 0600); `acme`: its account key and certificates (under acme/, all 0600). */
  dir: z.string().min(1, 'must be a directory path'),
  /** `internal`: a leaf's lifetime; it is replaced at 2/3 of it (as ACME clients renew). */
  leafLifetimeHours: fields.positiveInt('a number of hours (1 or more)'),
  /** Session ticket keys are replaced this often (RFC 8446 §4.6.1 caps a ticket at 7 days; forward secrecy of resumed sessions needs short-lived keys). */
  ticketKeyRotateSec: fields.positiveInt('a number of seconds (1 or more)'),
  /** `acme`: the ACME server's directory URL (RFC 8555 §7.1.1), https only (§6.1). */
  acmeDirectory: z.string(),
  /** `acme`: the account's contact address (RFC 8555 §7.3; the CA's expiry mails); empty = none. */
  acmeEmail: z.union([z.literal(''), z.email({ error: 'must be an e-mail address' })], { error: 'must be an e-mail address' }),
  /** `acme`: renew this many days before expiry when that comes before 2/3 of the lifetime; 0 = at 2/3 only. */
  acmeRenewBeforeDays: fields.nonNegativeInt('a number of days (0 = at 2/3 of the lifetime)'),
  /** `acme`: a failed order is retried after this long, doubling each time up to acmeRetryMaxMs. */
  acmeRetryMinMs: fields.positiveInt('a number of milliseconds (1 or more)'),
  acmeRetryMaxMs: fields.positiveInt('a number of milliseconds (1 or more)'),
}).strict();

export type TlsConfig = Frozen<z.infer<typeof tlsSchema>>;
export type TlsMode = TlsConfig['mode'];

export const TLS_DEFAULTS: TlsConfig = Object.freeze({
  mode: 'off',
  port: 8443,
  redirect: true,
  hstsMaxAgeSec: 0,
  certFiles: Object.freeze([]),
  keyFiles: Object.freeze([]),
  watchMs: 2_000,
  dir: 'data/tls',
  leafLifetimeHours: 24 * 7,
  ticketKeyRotateSec: 12 * 3600,
  acmeDirectory: '',
  acmeEmail: '',
  acmeRenewBeforeDays: 0,
  // Let's Encrypt's integration guide: back off exponentially; a minute first, then at most a few hours.
  acmeRetryMinMs: 60_000,
  acmeRetryMaxMs: 6 * 3_600_000,
});

export const TLS_ENV = {
  WEB_TLS: { key: 'tls.mode', kind: 'string' },
  WEB_TLS_PORT: { key: 'tls.port', kind: 'int' },
  WEB_TLS_REDIRECT: { key: 'tls.redirect', kind: 'bool' },
  WEB_HSTS_MAX_AGE: { key: 'tls.hstsMaxAgeSec', kind: 'int' },
  WEB_TLS_CERT_FILES: { key: 'tls.certFiles', kind: 'list' },
  WEB_TLS_KEY_FILES: { key: 'tls.keyFiles', kind: 'list' },
  WEB_TLS_WATCH_MS: { key: 'tls.watchMs', kind: 'int' },
  WEB_TLS_DIR: { key: 'tls.dir', kind: 'string' },
  WEB_TLS_LEAF_LIFETIME_HOURS: { key: 'tls.leafLifetimeHours', kind: 'int' },
  WEB_TLS_TICKET_KEY_ROTATE_SEC: { key: 'tls.ticketKeyRotateSec', kind: 'int' },
  WEB_ACME_DIRECTORY: { key: 'tls.acmeDirectory', kind: 'string' },
  WEB_ACME_EMAIL: { key: 'tls.acmeEmail', kind: 'string' },
  WEB_ACME_RENEW_BEFORE_DAYS: { key: 'tls.acmeRenewBeforeDays', kind: 'int' },
  WEB_ACME_RETRY_MIN_MS: { key: 'tls.acmeRetryMinMs', kind: 'int' },
  WEB_ACME_RETRY_MAX_MS: { key: 'tls.acmeRetryMaxMs', kind: 'int' },
} as const;

/** Checks across keys: `files` needs pairs, `acme` a directory and names. Returns the key to name and why, or undefined. */
export function checkTls(tls: TlsConfig, server?: { readonly serverNames: readonly string[]; readonly workers: number }): { key: string; message: string } | undefined {
  if (tls.mode === 'acme') return checkAcme(tls, server);
  if (tls.mode !== 'files') return undefined;
  if (tls.certFiles.length === 0) return { key: 'WEB_TLS_CERT_FILES', message: 'WEB_TLS=files needs at least one certificate file (WEB_TLS_CERT_FILES) and its key (WEB_TLS_KEY_FILES)' };
  if (tls.certFiles.length !== tls.keyFiles.length) return { key: 'WEB_TLS_KEY_FILES', message: `must name one key file per certificate file (${tls.certFiles.length} certificates, ${tls.keyFiles.length} keys)` };
  return undefined;
}

function checkAcme(tls: TlsConfig, server: { readonly serverNames: readonly string[]; readonly workers: number } | undefined): { key: string; message: string } | undefined {
  if (tls.acmeDirectory === '') return { key: 'WEB_ACME_DIRECTORY', message: 'WEB_TLS=acme needs the ACME directory URL (WEB_ACME_DIRECTORY), e.g. https://acme-staging-v02.api.letsencrypt.org/directory' };
  let url: URL | undefined;
  try {
    url = new URL(tls.acmeDirectory);
  } catch {
    url = undefined;
  }
  // RFC 8555 §6.1: ACME runs over HTTPS only.
  if (url?.protocol !== 'https:') return { key: 'WEB_ACME_DIRECTORY', message: `must be an https:// URL (RFC 8555 §6.1), got ${JSON.stringify(tls.acmeDirectory)}` };
  if (tls.acmeRetryMaxMs < tls.acmeRetryMinMs) return { key: 'WEB_ACME_RETRY_MAX_MS', message: `must be at least WEB_ACME_RETRY_MIN_MS (${tls.acmeRetryMinMs})` };
  if (server === undefined) return undefined;
  if (server.serverNames.length === 0) return { key: 'WEB_SERVER_NAMES', message: 'WEB_TLS=acme needs the names to get a certificate for (WEB_SERVER_NAMES=example.com,www.example.com)' };
  // HTTP-01 validates DNS names only (IP identifiers are RFC 8738, which few CAs issue for).
  const address = server.serverNames.find((name) => isIP(name.replace(/^\[|\]$/g, '')) !== 0);
  if (address !== undefined) return { key: 'WEB_SERVER_NAMES', message: `WEB_TLS=acme gets certificates for DNS names only; ${JSON.stringify(address)} is not one` };
  // One ACME client per process: several workers would each order, and each would answer only its own challenges.
  if (server.workers !== 1) return { key: 'WEB_WORKERS', message: `WEB_TLS=acme runs in one process: set WEB_WORKERS=1 (got ${server.workers}; each worker would order its own certificate and answer only its own challenges)` };
  return undefined;
}
