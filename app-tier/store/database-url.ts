/**
 * What DATABASE_URL may say. Config validation and openStore() read it the same way, so a
 * bad URL stops start-up with a clear line instead of failing in the first worker.
 */

export type DatabaseLocation =
  | { readonly kind: 'sqlite'; readonly file: string }
  | { readonly kind: 'sqlite-memory' }
  /** The whole URL, handed to `pg` as its connectionString (host, port, user, password, database, ?host=/socket/dir). */
  | { readonly kind: 'postgres'; readonly url: string };

export const DATABASE_URL_EXPECTED =
  'sqlite:PATH (e.g. sqlite:./data/twotier.db), sqlite::memory: or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE';

export class DatabaseUrlError extends Error {
  readonly code = 'STORE_BAD_URL';
  constructor(message: string) {
    super(message);
    this.name = 'DatabaseUrlError';
  }
}

/**
 * Accepts `sqlite:RELATIVE/OR/ABSOLUTE/PATH`, `sqlite:///abs/path` (URL style), `sqlite::memory:`
 * and `postgres://` / `postgresql://` URLs (libpq's spelling; `?host=/dir` names a Unix socket folder).
 * Errors never repeat a postgres URL: it may carry a password.
 */
export function parseDatabaseUrl(url: string): DatabaseLocation {
  const match = /^([a-z][a-z0-9+.-]*):(.*)$/i.exec(url);
  if (match === null) throw new DatabaseUrlError(`must be ${DATABASE_URL_EXPECTED}, got ${JSON.stringify(redactDatabaseUrl(url))}`);
  const scheme = (match[1] ?? '').toLowerCase();
  const rest = match[2] ?? '';
  if (scheme === 'postgres' || scheme === 'postgresql') return parsePostgres(url);
  if (scheme !== 'sqlite') {
    throw new DatabaseUrlError(`unknown scheme "${scheme}:"; must be ${DATABASE_URL_EXPECTED}, got ${JSON.stringify(redactDatabaseUrl(url))}`);
  }
  if (rest === ':memory:') return { kind: 'sqlite-memory' };
  // sqlite:///abs/path is the URL spelling of /abs/path; sqlite://host/… names a host, which SQLite has not.
  const file = rest.startsWith('///') ? rest.slice(2) : rest;
  if (file.length === 0 || (rest.startsWith('//') && !rest.startsWith('///'))) {
    throw new DatabaseUrlError(`must be ${DATABASE_URL_EXPECTED}, got ${JSON.stringify(url)}`);
  }
  return { kind: 'sqlite', file };
}

function parsePostgres(url: string): DatabaseLocation {
  if (!URL.canParse(url)) throw new DatabaseUrlError(`is not a valid postgres:// URL; must be ${DATABASE_URL_EXPECTED}`);
  const parsed = new URL(url);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  const socketDir = parsed.searchParams.get('host');
  if (parsed.hostname === '' && (socketDir === null || !socketDir.startsWith('/'))) {
    throw new DatabaseUrlError(`postgres URL names no host (give HOST, or ?host=/socket/dir); must be ${DATABASE_URL_EXPECTED}`);
  }
  if (database === '' || database.includes('/')) {
    throw new DatabaseUrlError(`postgres URL names no database (…/DATABASE); must be ${DATABASE_URL_EXPECTED}`);
  }
  return { kind: 'postgres', url };
}

/** The URL fit for logs and banners: a postgres password becomes "***". */
export function redactDatabaseUrl(url: string): string {
  if (!/^postgres(?:ql)?:/i.test(url) || !URL.canParse(url)) return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
  const parsed = new URL(url);
  if (parsed.password !== '') parsed.password = '***';
  return parsed.toString();
}
