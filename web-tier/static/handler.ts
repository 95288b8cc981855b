/**
 * The web tier's static file server (RFC 9110 §8.8, §13, §14): one request from method check
 * to the last byte, in one direction. Path safety, the stat cache, the body cache,
 * preconditions and ranges (send.ts), encodings and listings each live in their own module;
 * this file decides which of them a request needs.
 *
 * Hot path: once a request path has resolved to a file, the answer (file, twins) is kept by
 * the raw path for the stat TTL, so the next GET of it is synchronous: no path parsing, no
 * stat, no promise; with the body in memory it is one writeHead and one end(buffer).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../common/logger.js';
import type { RequestContext, RequestHandler } from '../context.js';
import { sendError, TwotierError } from '../error-response.js';
import { negotiateEncoding, TWINS, type ContentCoding } from './encodings.js';
import { createFileCache } from './file-cache.js';
import { readListing, sendListing, type Listing } from './listing.js';
import type { StaticConfig } from './config.js';
import { buildRepresentation, compileCacheControl, type Representation } from './representation.js';
import { createResolver, type FileInfo } from './resolve.js';
import { directoryLocation, parseStaticPath } from './safe-path.js';
import { sendRepresentation, type SendOptions } from './send.js';

/** The static section (static/config.ts, validated once), and the operator metrics' hook. */
export type StaticOptions = StaticConfig & {
  /** Called once per body sent: true when it came from the in-memory cache (for the operator metrics). */
  readonly onCacheLookup?: (hit: boolean) => void;
};

const ALLOW = 'GET, HEAD, OPTIONS';
/** Paths the resolver remembers, and raw request paths the hot map remembers: bounds memory under a flood of distinct URLs. */
const STAT_CACHE_ENTRIES = 10_000;
/** Names shown in one listing; a huge folder is cut rather than stat'ed whole. */
const LISTING_MAX_ENTRIES = 2_000;

interface Twin {
  readonly coding: ContentCoding;
  readonly file: FileInfo;
}

/** A request path known to name this file (index.html for a directory path included). */
interface Resolved {
  readonly file: FileInfo;
  readonly segments: readonly string[];
  readonly twins: readonly Twin[];
  /** Trusted until then: the oldest stat it rests on plus the TTL (a missing twin may take up to twice that to appear). */
  readonly expires: number;
}

export function createStaticHandler(options: StaticOptions & { logger: Logger; /** Tests inject a clock; Date.now otherwise. */ now?: () => number }): RequestHandler {
  const now = options.now ?? Date.now;
  const resolver = createResolver({
    root: options.root,
    followOutsideSymlinks: options.followOutsideSymlinks,
    statTtlMs: options.statTtlMs,
    maxEntries: STAT_CACHE_ENTRIES,
    now,
  });
  const bodies = createFileCache({ maxBytes: options.cacheMaxBytes, maxFileBytes: options.cacheMaxFileBytes });
  const cacheControlFor = compileCacheControl(options.cacheControl);
  const listingPrefixes = options.listingDirs.map((prefix) => (prefix.endsWith('/') ? prefix : `${prefix}/`));
  // Keyed by the FileInfo of one stat result: a new version of a file is a new key, so a stale
  // representation is never found and the old one is garbage-collected with its FileInfo.
  const plainReps = new WeakMap<FileInfo, Representation>();
  const variedReps = new WeakMap<FileInfo, Representation>();
  const hot = new Map<string, Resolved>();
  const sendOptions: SendOptions = {
    bodies,
    onCacheLookup: options.onCacheLookup,
    onVanished(res, ctx, rep) {
      hot.delete(ctx.pathname);
      resolver.forget(rep.file.path);
      fail(res, ctx, 'WEB_ERR_NOT_FOUND', 'file vanished before open');
    },
  };
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

  async function findTwins(segments: readonly string[]): Promise<readonly Twin[]> {
    const last = segments[segments.length - 1] ?? '';
    const parent = segments.slice(0, -1);
    const found = await Promise.all(TWINS.map(({ suffix }) => resolver.lookup([...parent, last + suffix])));
    const twins: Twin[] = [];
    TWINS.forEach(({ coding }, index) => {
      const lookup = found[index];
      if (lookup?.kind === 'file') twins.push({ coding, file: lookup.file });
    });
    return twins;
  }

  function fail(res: ServerResponse, ctx: RequestContext, code: 'WEB_ERR_NOT_FOUND' | 'WEB_ERR_BAD_REQUEST', reason: string): void {
    ctx.logger.debug({ reason }, 'static request refused');
    sendError(res, ctx, new TwotierError(code, reason));
  }

  /** Picks the representation (negotiating a twin) and writes it. */
  function deliver(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, resolved: Resolved): Promise<void> | undefined {
    let rep: Representation;
    if (resolved.twins.length === 0) {
      rep = representationFor(resolved.file, 'identity', resolved.segments, false);
    } else {
      const coding = negotiateEncoding(req.headers['accept-encoding'], resolved.twins.map((twin) => twin.coding));
      const twin = resolved.twins.find((candidate) => candidate.coding === coding);
      rep = representationFor(twin?.file ?? resolved.file, twin?.coding ?? 'identity', resolved.segments, true);
    }
    return sendRepresentation(req, res, ctx, rep, sendOptions);
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
        return listDirectory(req, res, ctx, found.path, parsed.urlPath, segments);
      } else {
        return fail(res, ctx, 'WEB_ERR_NOT_FOUND', 'directory without index');
      }
    } else if (parsed.trailingSlash && found.kind === 'file') {
      return fail(res, ctx, 'WEB_ERR_NOT_FOUND', 'file addressed as a directory');
    }
    if (found.kind === 'outside') return fail(res, ctx, 'WEB_ERR_NOT_FOUND', 'symlink leads outside the root');
    if (found.kind !== 'file') return fail(res, ctx, 'WEB_ERR_NOT_FOUND', 'no such file');

    const twins = await findTwins(segments);
    const oldest = twins.reduce((at, twin) => Math.min(at, twin.file.checkedAt), found.file.checkedAt);
    const resolved: Resolved = { file: found.file, segments, twins, expires: oldest + options.statTtlMs };
    if (options.statTtlMs > 0) remember(ctx.pathname, resolved);
    return deliver(req, res, ctx, resolved);
  }

  function remember(pathname: string, resolved: Resolved): void {
    hot.delete(pathname);
    hot.set(pathname, resolved);
    if (hot.size > STAT_CACHE_ENTRIES) {
      const oldest = hot.keys().next().value;
      if (oldest !== undefined) hot.delete(oldest);
    }
  }

  async function listDirectory(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, dirPath: string, urlPath: string, segments: readonly string[]): Promise<void> {
    let listing: Listing;
    try {
      listing = await readListing({ dirPath, urlPath, lookupChild: (name) => resolver.lookup([...segments, name]), maxEntries: LISTING_MAX_ENTRIES });
    } catch {
      // Removed or made unreadable since the stat: the same answer as if it had never been there.
      resolver.forget(dirPath);
      return fail(res, ctx, 'WEB_ERR_NOT_FOUND', 'directory unreadable');
    }
    sendListing(req, res, listing);
  }

  function onFailure(res: ServerResponse, ctx: RequestContext, error: unknown): void {
    ctx.logger.error({ err: error }, 'static handler failed');
    sendError(res, ctx, new TwotierError('WEB_ERR_INTERNAL', 'static handler failed', { cause: error }));
  }

  return {
    handle(req, res, ctx) {
      ctx.servedBy = 'static';
      if (closed) {
        sendError(res, ctx, new TwotierError('WEB_ERR_NOT_FOUND', 'static handler closed'));
        return;
      }
      try {
        const method = req.method;
        const resolved = method === 'GET' || method === 'HEAD' ? hot.get(ctx.pathname) : undefined;
        const pending = resolved !== undefined && resolved.expires > now() ? deliver(req, res, ctx, resolved) : serve(req, res, ctx);
        pending?.catch((error: unknown) => onFailure(res, ctx, error));
      } catch (error) {
        onFailure(res, ctx, error);
      }
    },
    async close() {
      closed = true;
      hot.clear();
      resolver.clear();
      bodies.clear();
    },
  };
}
