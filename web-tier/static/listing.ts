/**
 * Directory listings, like `python -m http.server`, only for the folders the operator turned
 * them on for. Dotfiles are never listed, nor entries the resolver would refuse to serve
 * (symlinks out of the root), so a listing never advertises what a GET would 404.
 */
import { readdir } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Negotiator from 'negotiator';
import { encodeSegment } from './safe-path.js';
import type { Lookup } from './resolve.js';

export interface ListingEntry {
  readonly name: string;
  readonly type: 'file' | 'directory';
  /** Bytes; 0 for directories. */
  readonly size: number;
  /** ISO 8601 modification time; "" for directories. */
  readonly modified: string;
}

export interface Listing {
  readonly path: string;
  readonly entries: readonly ListingEntry[];
  /** True when the folder held more than `maxEntries` names and the rest were left out. */
  readonly truncated: boolean;
}

export interface ReadListingOptions {
  /** The directory on disk. */
  readonly dirPath: string;
  /** The canonical URL path of the directory, with its trailing slash. */
  readonly urlPath: string;
  /** Looks one child up through the resolver (its cache, its symlink rules). */
  readonly lookupChild: (name: string) => Promise<Lookup>;
  readonly maxEntries: number;
}

export async function readListing(options: ReadListingOptions): Promise<Listing> {
  const names = (await readdir(options.dirPath))
    .filter((name) => !name.startsWith('.'))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const kept = names.slice(0, options.maxEntries);
  const looked = await Promise.all(kept.map(async (name) => ({ name, found: await options.lookupChild(name) })));
  const entries: ListingEntry[] = [];
  for (const { name, found } of looked) {
    if (found.kind === 'directory') entries.push({ name, type: 'directory', size: 0, modified: '' });
    else if (found.kind === 'file') {
      entries.push({ name, type: 'file', size: found.file.size, modified: new Date(found.file.mtimeMs).toISOString() });
    }
  }
  return { path: options.urlPath, entries, truncated: names.length > kept.length };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

export function renderListingHtml(listing: Listing): string {
  const title = `Directory listing for ${escapeHtml(listing.path)}`;
  const rows = listing.entries.map((entry) => {
    const label = entry.type === 'directory' ? `${entry.name}/` : entry.name;
    // "./" first: a name like "a:b" would otherwise read as a URI scheme (RFC 3986 §4.2).
    const href = `./${encodeSegment(entry.name)}${entry.type === 'directory' ? '/' : ''}`;
    const size = entry.type === 'file' ? ` <small>${entry.size} bytes</small>` : '';
    return `<li><a href="${escapeHtml(href)}">${escapeHtml(label)}</a>${size}</li>`;
  });
  if (listing.path !== '/') rows.unshift('<li><a href="../">../</a></li>');
  const note = listing.truncated ? '<p>Only the first entries are shown.</p>' : '';
  return (
    `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>\n` +
    `<body><h1>${title}</h1><hr><ul>\n${rows.join('\n')}\n</ul><hr>${note}</body></html>\n`
  );
}

export function renderListingJson(listing: Listing): string {
  return JSON.stringify(listing);
}

const LISTING_TYPES = ['text/html', 'application/json'];

/** Answers with the listing as HTML, or JSON when the client's Accept prefers it. */
export function sendListing(req: IncomingMessage, res: ServerResponse, listing: Listing): void {
  const json = new Negotiator(req).mediaType(LISTING_TYPES) === 'application/json';
  const body = json ? renderListingJson(listing) : renderListingHtml(listing);
  res.writeHead(200, {
    'Content-Type': json ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    // A listing changes whenever the folder does and has no validator: never reuse it unchecked.
    'Cache-Control': 'no-cache',
    Vary: 'Accept',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
