/**
 * HTTPS at the edge (issue 15): the `tls` section. `mode` off (the default: `npm start` is plain
 * HTTP only), `files` (PEM chain + key pairs, names read from each certificate's SANs; the first
 * pair is the default for an unknown or absent SNI name) or `internal` (a local CA under `dir`,
 * like Caddy's `tls internal` / mkcert). The protocol and cipher settings are not keys: they are
 * fixed, with their reasons, in tls/settings.ts. Validated by web-tier/config.ts.
 */
import { z } from 'zod';
import { fields, type Frozen } from '../../common/config.js';

export const tlsSchema = z.object({
  mode: z.enum(['off', 'files', 'internal'], { error: 'must be one of off, files, internal' }),
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
  /** `internal`: where the local CA and its leaf live (the keys mode 0600). */
  dir: z.string().min(1, 'must be a directory path'),
  /** `internal`: a leaf's lifetime; it is replaced at 2/3 of it (as ACME clients renew). */
  leafLifetimeHours: fields.positiveInt('a number of hours (1 or more)'),
  /** Session ticket keys are replaced this often (RFC 8446 §4.6.1 caps a ticket at 7 days; forward secrecy of resumed sessions needs short-lived keys). */
  ticketKeyRotateSec: fields.positiveInt('a number of seconds (1 or more)'),
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
} as const;

/** Checks across keys: `files` needs pairs. Returns the key to name and why, or undefined. */
export function checkTls(tls: TlsConfig): { key: string; message: string } | undefined {
  if (tls.mode !== 'files') return undefined;
  if (tls.certFiles.length === 0) return { key: 'WEB_TLS_CERT_FILES', message: 'WEB_TLS=files needs at least one certificate file (WEB_TLS_CERT_FILES) and its key (WEB_TLS_KEY_FILES)' };
  if (tls.certFiles.length !== tls.keyFiles.length) return { key: 'WEB_TLS_KEY_FILES', message: `must name one key file per certificate file (${tls.certFiles.length} certificates, ${tls.keyFiles.length} keys)` };
  return undefined;
}
