/**
 * What DATABASE_URL may say. Config validation and openStore() read it the same way, so a
 * bad URL stops start-up with a clear line instead of failing in the first worker.
 */

export type DatabaseLocation =
  | { readonly kind: 'sqlite'; readonly file: string }
  | { readonly kind: 'sqlite-memory' };

export const DATABASE_URL_EXPECTED = 'sqlite:PATH (e.g. sqlite:./data/twotier.db) or sqlite::memory:';

export class DatabaseUrlError extends Error {
  readonly code = 'STORE_BAD_URL';
  constructor(message: string) {
    super(message);
    this.name = 'DatabaseUrlError';
  }
}

/**
 * Accepts `sqlite:RELATIVE/OR/ABSOLUTE/PATH`, `sqlite:///abs/path` (URL style) and `sqlite::memory:`.
 * postgres:// is named in the error: it arrives with the multi-box placement (issue 5), and
 * `openStore` is split by scheme so a postgres.ts slots in beside sqlite.ts.
 */
export function parseDatabaseUrl(url: string): DatabaseLocation {
  const match = /^([a-z][a-z0-9+.-]*):(.*)$/i.exec(url);
  if (match === null) throw new DatabaseUrlError(`must be ${DATABASE_URL_EXPECTED}, got ${JSON.stringify(url)}`);
  const scheme = (match[1] ?? '').toLowerCase();
  const rest = match[2] ?? '';
  if (scheme !== 'sqlite') {
    const hint = scheme === 'postgres' || scheme === 'postgresql' ? ' (postgres is not supported yet)' : '';
    throw new DatabaseUrlError(`unknown scheme "${scheme}:"${hint}; must be ${DATABASE_URL_EXPECTED}, got ${JSON.stringify(url)}`);
  }
  if (rest === ':memory:') return { kind: 'sqlite-memory' };
  // sqlite:///abs/path is the URL spelling of /abs/path; sqlite://host/… names a host, which SQLite has not.
  const file = rest.startsWith('///') ? rest.slice(2) : rest;
  if (file.length === 0 || (rest.startsWith('//') && !rest.startsWith('///'))) {
    throw new DatabaseUrlError(`must be ${DATABASE_URL_EXPECTED}, got ${JSON.stringify(url)}`);
  }
  return { kind: 'sqlite', file };
}
