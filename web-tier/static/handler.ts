/**
 * The web tier's static file server (RFC 9110 §8.8, §13, §14): one request from method check
 * to the last byte, in one direction. Path safety, the stat cache, the body cache,
 * preconditions, ranges, encodings and listings each live in their own module; this file
 * decides which of them a request needs and writes the answer.
 */
import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Negotiator from 'negotiator';
import type { Logger } from '../../common/logger.js';
import type { RequestContext, RequestHandler } from '../context.js';
import { sendError, TwotierError } from '../error-response.js';
import { evaluatePreconditions, ifRangeAllows } from './conditional.js';
import { negotiateEncoding, TWINS, type ContentCoding } from './encodings.js';
import { createFileCache } from './file-cache.js';
import { readListing, renderListingHtml, renderListingJson, type Listing } from './listing.js';
import { buildRepresentation, compileCacheControl, type CacheControlRule, type Representation } from './representation.js';
import { decideRange } from './ranges.js';
import { createResolver, type FileInfo } from './resolve.js';
import { directoryLocation, parseStaticPath } from './safe-path.js';

export interface StaticOptions {
  /** Absolute path of WEB_ROOT. */
  root: string;
  /** The file served for a directory URL ending in "/". */
  index: string;
  /** URL path prefixes where a directory listing is on, e.g. ['/files/']; [] = off everywhere. */
  listingDirs: readonly string[];
  /** Cache-Control by URL path; the first rule whose prefix and pattern both match wins. */
  cacheControl: readonly CacheControlRule[];
  /** Follow symlinks whose target is outside the root (or a dotfile). Default false. */
  followOutsideSymlinks: boolean;
  /** Total bytes of file bodies held in memory. */
  cacheMaxBytes: number;
  /** Largest file held in memory; bigger files are streamed from disk. */
  cacheMaxFileBytes: number;
  /** How long a stat result (found, missing, directory) is trusted, in milliseconds; 0 = stat every request. */
  statTtlMs: number;
}

export const STATIC_DEFAULTS: Readonly<Omit<StaticOptions, 'root'>> = Object.freeze({
  index: 'index.html',
  listingDirs: Object.freeze([]) as readonly string[],
  cacheControl: Object.freeze([
    // Fingerprinted build output (`app.3f2a9c1b.js`, `logo-0a1b2c3d4e.svg`): a new version gets a
    // new name, so the old one can be cached for a year and never revalidated (RFC 8246).
    { pattern: '[.-](?=[0-9a-f]*[0-9])[0-9a-f]{8,}\\.[A-Za-z0-9]+$', value: 'public, max-age=31536000, immutable' },
    // Everything else may be stored but is revalidated each time (a cheap 304 with our ETag).
    { value: 'public, max-age=0, must-revalidate' },
  ]) as readonly CacheControlRule[],
  followOutsideSymlinks: false,
  cacheMaxBytes: 32 * 1024 * 1024, // 32 MiB
  cacheMaxFileBytes: 128 * 1024, // 128 KiB
  statTtlMs: 1_000, // 1 s
});

const ALLOW = 'GET, HEAD, OPTIONS';
/** Paths the resolver remembers; bounds memory under a flood of distinct URLs. */
const STAT_CACHE_ENTRIES = 10_000;
/** Names shown in one listing; a huge folder is cut rather than stat'ed whole. */
const LISTING_MAX_ENTRIES = 2_000;
const LISTING_TYPES = ['text/html', 'application/json'];

interface Twin {
  readonly coding: ContentCoding;
  readonly file: FileInfo;
}

export function createStaticHandler(options: StaticOptions & { logger: Logger }): RequestHandler {
  const resolver = createResolver({
    root: options.root,
    followOutsideSymlinks: options.followOutsideSymlinks,
    statTtlMs: options.statTtlMs,
    maxEntries: STAT_CACHE_ENTRIES,
  });
  const bodies = createFileCache({ maxBytes: options.cacheMaxBytes, maxFileBytes: options.cacheMaxFileBytes });
  const cacheControlFor = compileCacheControl(options.cacheControl);
  const listingPrefixes = options.listingDirs.map((prefix) => (prefix.endsWith('/') ? prefix : `${prefix}/`));
  // Keyed by the FileInfo of one stat result: a new version of a file is a new key, so a stale
  // representation is never found and the old one is garbage-collected with its FileInfo.
  const plainReps = new WeakMap<FileInfo, Representation>();
  const variedReps = new WeakMap<FileInfo, Representation>();
  const twinsOf = new WeakMap<FileInfo, Promise<readonly Twin[]>>();
  let closed = false;

  function representationFor(file: FileInfo, coding: ContentCoding, segments: readonly string[], varies: boolean): Representation {
    const memo = varies ? variedReps : plainReps;
    let rep = memo.get(file);
    if (rep === undefined) {
      const fileName = segments[segments.length - 1] ?? options.index;
      rep = buildRepresentation({ file, coding, fileName, cacheControl: cacheControlFor(`/${segments.join('/')}`), varies });
      memo.set(file, rep);
    }
    return rep;
  }

  function findTwins(file: FileInfo, segments: readonly string[]): Promise<readonly Twin[]> {
    let twins = twinsOf.get(file);
    if (twins === undefined) {
      const last = segments[segments.length - 1] ?? '';
      const parent = segments.slice(0, -1);
      twins = Promise.all(TWINS.map(async ({ coding, suffix }) => ({ coding, found: await resolver.lookup([...parent, last + suffix]) }))).then(
        (results) => results.flatMap(({ coding, found }) => (found.kind === 'file' ? [{ coding, file: found.file }] : [])),
      );
      twinsOf.set(file, twins);
    }
    return twins;
  }

  function fail(res: ServerResponse, ctx: RequestContext, code: 'WEB_ERR_NOT_FOUND' | 'WEB_ERR_BAD_REQUEST', reason: string): void {
    ctx.logger.debug({ reason }, 'static request refused');
    sendError(res, ctx, new TwotierError(code, reason));
  }

  async function serve(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    const method = req.method ?? 'GET';
    if (method === 'OPTIONS') {
      res.writeHead(204, { Allow: ALLOW });
      res.end();
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') {
      // RFC 9110 §15.5.6: a 405 MUST carry Allow (nginx leaves it out).
      sendError(res, ctx, new TwotierError('WEB_ERR_METHOD_NOT_ALLOWED', `${method} on a static path`, { headers: { Allow: ALLOW } }));
      return;
    }
    const parsed = parseStaticPath(ctx.pathname);
    if (!parsed.ok) return fail(res, ctx, parsed.code, parsed.reason);

    let segments = parsed.segments;
    let found = await resolver.lookup(segments);
    if (found.kind === 'directory') {
      if (!parsed.trailingSlash) {
        res.writeHead(301, { Location: directoryLocation(segments, ctx.search), 'Content-Length': '0' });
        res.end();
        return;
      }
      const indexSegments = [...segments, options.index];
      const index = await resolver.lookup(indexSegments);
      if (index.kind === 'file') {
        segments = indexSegments;
        found = index;
      } else if (listingPrefixes.some((prefix) => parsed.urlPath.startsWith(prefix))) {
        return sendListing(req, res, ctx, found.path, parsed.urlPath, segments);
      } else {
        return fail(res, ctx, 'WEB_ERR_NOT_FOUND', 'directory without index');
      }
    } else if (parsed.trailingSlash && found.kind === 'file') {
      return fail(res, ctx, 'WEB_ERR_NOT_FOUND', 'file addressed as a directory');
    }
    if (found.kind === 'outside') return fail(res, ctx, 'WEB_ERR_NOT_FOUND', 'symlink leads outside the root');
    if (found.kind !== 'file') return fail(res, ctx, 'WEB_ERR_NOT_FOUND', 'no such file');
    return sendFile(req, res, ctx, found.file, segments);
  }

  async function sendFile(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, file: FileInfo, segments: readonly string[]): Promise<void> {
    const twins = await findTwins(file, segments);
    let rep: Representation;
    if (twins.length === 0) {
      rep = representationFor(file, 'identity', segments, false);
    } else {
      const coding = negotiateEncoding(req.headers['accept-encoding'], twins.map((twin) => twin.coding));
      const twin = twins.find((candidate) => candidate.coding === coding);
      rep = representationFor(twin?.file ?? file, twin?.coding ?? 'identity', segments, true);
    }

    const outcome = evaluatePreconditions(req.headers, rep);
    if (outcome === 'failed') {
      sendError(res, ctx, new TwotierError('WEB_ERR_PRECONDITION_FAILED', 'precondition failed'));
      return;
    }
    if (outcome === 'not-modified') {
      res.writeHead(304, rep.notModifiedHeaders);
      res.end();
      return;
    }

    const size = rep.file.size;
    // RFC 9110 §14.2: Range is only defined for GET; a HEAD gets the 200 headers.
    const range = req.method === 'GET' && req.headers.range !== undefined && ifRangeAllows(req.headers, rep)
      ? decideRange(size, req.headers.range)
      : undefined;
    if (range?.kind === 'unsatisfiable') {
      // RFC 9110 §15.5.17: the 416 says how long the representation is.
      sendError(res, ctx, new TwotierError('WEB_ERR_RANGE_NOT_SATISFIABLE', 'range not satisfiable', { headers: { 'Content-Range': `bytes */${size}` } }));
      return;
    }
    const partial = range?.kind === 'partial' ? range : undefined;
    const status = partial === undefined ? 200 : 206;
    const headers = partial === undefined
      ? rep.headers
      : { ...rep.headers, 'Content-Length': String(partial.end - partial.start + 1), 'Content-Range': `bytes ${partial.start}-${partial.end}/${size}` };

    if (req.method === 'HEAD') {
      res.writeHead(status, headers);
      res.end();
      return;
    }
    const body = bodies.get(rep.file) ?? (bodies.accepts(rep.file) ? await bodies.load(rep.file) : undefined);
    if (body !== undefined) {
      res.writeHead(status, headers);
      res.end(partial === undefined ? body : body.subarray(partial.start, partial.end + 1));
      return;
    }
    streamBody(res, ctx, rep.file, partial?.start ?? 0, partial?.end ?? size - 1, status, headers);
  }

  /**
   * Streams a file too big to hold. Headers wait for the open to succeed (the file may vanish
   * between stat and open: then a 404, not a 200 with no body); after that, any failure or a
   * short read (the file shrank) cuts the connection, because a response shorter than its
   * Content-Length must not look complete (RFC 9112 §6.3).
   */
  function streamBody(res: ServerResponse, ctx: RequestContext, file: FileInfo, start: number, end: number, status: number, headers: Readonly<Record<string, string>>): void {
    const expected = end - start + 1;
    if (expected <= 0) {
      res.writeHead(status, headers);
      res.end();
      return;
    }
    const stream = createReadStream(file.path, { start, end });
    res.once('close', () => stream.destroy());
    stream.once('error', (error) => {
      if (res.headersSent) {
        ctx.logger.warn({ err: error }, 'static file failed while streaming');
        res.destroy();
        return;
      }
      resolver.forget(file.path);
      fail(res, ctx, 'WEB_ERR_NOT_FOUND', 'file vanished before open');
    });
    stream.once('ready', () => {
      res.writeHead(status, headers);
      stream.once('end', () => {
        if (stream.bytesRead === expected) res.end();
        else res.destroy();
      });
      stream.pipe(res, { end: false });
    });
  }

  async function sendListing(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, dirPath: string, urlPath: string, segments: readonly string[]): Promise<void> {
    let listing: Listing;
    try {
      listing = await readListing({
        dirPath,
        urlPath,
        lookupChild: (name) => resolver.lookup([...segments, name]),
        maxEntries: LISTING_MAX_ENTRIES,
      });
    } catch {
      // Removed or made unreadable since the stat: the same answer as if it had never been there.
      resolver.forget(dirPath);
      return fail(res, ctx, 'WEB_ERR_NOT_FOUND', 'directory unreadable');
    }
    const json = new Negotiator(req).mediaType(LISTING_TYPES) === 'application/json';
    const body = json ? renderListingJson(listing) : renderListingHtml(listing);
    res.writeHead(200, {
      'Content-Type': json ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8',
      'Content-Length': String(Buffer.byteLength(body)),
      // A listing changes whenever the folder does; it has no validator, so never reuse it unchecked.
      'Cache-Control': 'no-cache',
      Vary: 'Accept',
      'X-Content-Type-Options': 'nosniff',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  return {
    handle(req, res, ctx) {
      ctx.servedBy = 'static';
      if (closed) {
        sendError(res, ctx, new TwotierError('WEB_ERR_NOT_FOUND', 'static handler closed'));
        return;
      }
      serve(req, res, ctx).catch((error: unknown) => {
        ctx.logger.error({ err: error }, 'static handler failed');
        // The catalogue has no web-tier 500 yet; APP_ERR_INTERNAL carries the right status.
        sendError(res, ctx, new TwotierError('APP_ERR_INTERNAL', 'static handler failed', { cause: error }));
      });
    },
    async close() {
      closed = true;
      resolver.clear();
      bodies.clear();
    },
  };
}
