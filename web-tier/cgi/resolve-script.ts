/**
 * Maps `/cgi-bin/NAME[/extra/path]` onto an executable in the CGI directory, refusing anything
 * that is not exactly one regular, executable file directly inside that directory.
 */
import { constants, existsSync } from 'node:fs';
import { access, realpath, stat } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TwotierError } from '../../common/errors.js';

export const CGI_PREFIX = '/cgi-bin/';

/**
 * A script name is one path segment of plain characters. Dotfiles, `..`, separators, NUL and
 * anything needing quoting are refused outright rather than normalised: a name that has to be
 * cleaned up before it is safe is a name nobody meant.
 */
const SCRIPT_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

export interface ResolvedScript {
  /** `/cgi-bin/NAME`, the SCRIPT_NAME meta-variable (RFC 3875 §4.1.13). */
  readonly scriptName: string;
  /** Absolute path of the executable (its real path: symlinks resolved). */
  readonly scriptPath: string;
  /** The rest of the path, percent-decoded (RFC 3875 §4.1.5): "" or "/…". */
  readonly pathInfo: string;
}

/** Percent-decodes a path; malformed escapes and NUL (which no environment variable can carry) → 400. */
export function decodePath(raw: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch (error) {
    throw new TwotierError('WEB_ERR_BAD_REQUEST', 'malformed percent-encoding in the CGI path', { cause: error });
  }
  if (decoded.includes('\0')) throw new TwotierError('WEB_ERR_BAD_REQUEST', 'NUL in the CGI path');
  return decoded;
}

function notFound(message: string, cause?: unknown): TwotierError {
  return new TwotierError('WEB_ERR_NOT_FOUND', message, cause === undefined ? {} : { cause });
}

function forbidden(message: string, cause?: unknown): TwotierError {
  return new TwotierError('WEB_ERR_FORBIDDEN', message, cause === undefined ? {} : { cause });
}

/**
 * Resolves the raw (still percent-encoded) request path. Throws a TwotierError: 404 for a
 * missing or unnameable script, 403 for a directory, a non-regular or non-executable file, or a
 * symlink that leads out of the CGI directory.
 */
export async function resolveScript(cgiDir: string, rawPathname: string): Promise<ResolvedScript> {
  if (!rawPathname.startsWith(CGI_PREFIX)) throw notFound('not a CGI path');
  const rest = rawPathname.slice(CGI_PREFIX.length);
  const slash = rest.indexOf('/');
  const rawName = slash === -1 ? rest : rest.slice(0, slash);
  const name = decodePath(rawName);
  // `/cgi-bin/` itself would be a directory listing of the scripts: never offered.
  if (name === '') throw forbidden('the CGI directory is not listable');
  if (!SCRIPT_NAME.test(name)) throw notFound('not a valid CGI script name');
  const pathInfo = slash === -1 ? '' : decodePath(rest.slice(slash));

  let realDir: string;
  let realScript: string;
  try {
    realDir = await realpath(cgiDir);
    realScript = await realpath(join(cgiDir, name));
  } catch (error) {
    throw notFound('no such CGI script', error);
  }
  // A symlink inside the directory may point anywhere; only scripts really inside it run.
  if (!realScript.startsWith(realDir + sep)) {
    throw forbidden('CGI script resolves outside the CGI directory');
  }
  const info = await stat(realScript).catch((error: unknown) => {
    throw notFound('no such CGI script', error);
  });
  if (!info.isFile()) throw forbidden('CGI path is not a regular file');
  try {
    await access(realScript, constants.X_OK);
  } catch (error) {
    throw forbidden('CGI script is not executable', error);
  }
  return { scriptName: `${CGI_PREFIX}${name}`, scriptPath: realScript, pathInfo };
}

/**
 * The package root, found from this file whether it runs as TypeScript (web-tier/cgi) or compiled
 * (dist/web-tier/cgi): the nearest ancestor with a package.json. Called by config code, never at import.
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 8; depth += 1) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/** `<package root>/web-tier/cgi-bin`, where the shipped scripts live. */
export function defaultCgiDir(): string {
  return join(packageRoot(), 'web-tier', 'cgi-bin');
}

/** `<package root>/web-tier/public`, the document root PATH_TRANSLATED maps into (RFC 3875 §4.1.6). */
export function defaultDocumentRoot(): string {
  return join(packageRoot(), 'web-tier', 'public');
}
