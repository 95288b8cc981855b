/**
 * An in-memory Store for application tests: the same contract as the SQLite store
 * (app-tier/store/types.ts), including per-month slug uniqueness (an explicit slug conflicts, a
 * derived one takes a free suffix like the SQLite store's), newest-first ordering,
 * settings created once, lists without bodies (summaries and heads), and StoreConflictError. `failWith` makes every call reject, to test
 * how the application maps store failures (e.g. StoreUnavailableError → 503).
 */
import { SLUG_MAX_LENGTH, slugify } from '../../app-tier/store/slug.js';
import {
  EXCERPT_CHARACTERS,
  StoreConflictError,
  type ArchiveMonth,
  type Article,
  type ArticleHead,
  type ArticleSummary,
  type ArticleInput,
  type ArticlePatch,
  type Store,
} from '../../app-tier/store/types.js';
import type { Job } from '../../app-tier/store/jobs.js';

export interface MemoryStore extends Store {
  /** When set, every method rejects with this error. */
  failWith: Error | undefined;
  readonly closed: boolean;
  /** How many times close() was called. */
  readonly closeCalls: number;
  /** The settings map, for assertions. */
  readonly settings: ReadonlyMap<string, string>;
}

export interface MemoryStoreOptions {
  readonly now?: () => Date;
  readonly articles?: readonly ArticleInput[];
}

/** Bounds the search for a free derived slug, as the SQLite store does. */
const MAX_SLUG_SUFFIX = 100;

function monthKey(published: string): string {
  return published.slice(0, 7);
}

/** The SQL stores' head: every field but the body. */
function headOf(article: Article): ArticleHead {
  const { body: _body, ...head } = article;
  return head;
}

/** The SQL stores' summary: `substr(body, 1, EXCERPT_CHARACTERS)` counts code points. */
function summaryOf(article: Article): ArticleSummary {
  // Two UTF-16 units per code point at most: cut before spreading a long body into an array.
  const excerpt = [...article.body.slice(0, 2 * EXCERPT_CHARACTERS)].slice(0, EXCERPT_CHARACTERS).join('');
  return { ...headOf(article), excerpt };
}

function newestFirst(a: Article, b: Article): number {
  if (a.published !== b.published) return a.published < b.published ? 1 : -1;
  return b.id - a.id;
}

export function createMemoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  const now = options.now ?? (() => new Date());
  const articles = new Map<number, Article>();
  const settings = new Map<string, string>();
  const jobs = new Map<string, Job>();
  let nextId = 1;
  let closed = false;
  let closeCalls = 0;

  function slugTaken(slug: string, published: string, exceptId: number): boolean {
    return [...articles.values()].some((article) => article.id !== exceptId && article.slug === slug && monthKey(article.published) === monthKey(published));
  }

  function assertSlugFree(slug: string, published: string, exceptId = -1): void {
    if (slugTaken(slug, published, exceptId)) throw new StoreConflictError('slug', `slug "${slug}" is taken in ${monthKey(published)}`);
  }

  /** The store contract: an explicit slug must be free; a derived one takes the first free suffix. */
  function chooseSlug(input: ArticleInput, published: string, exceptId = -1): string {
    if (input.slug !== undefined) {
      assertSlugFree(input.slug, published, exceptId);
      return input.slug;
    }
    const base = slugify(input.title);
    for (let n = 1; n <= MAX_SLUG_SUFFIX; n += 1) {
      const suffix = n === 1 ? '' : `-${n}`;
      const candidate = `${base.slice(0, SLUG_MAX_LENGTH - suffix.length)}${suffix}`;
      if (!slugTaken(candidate, published, exceptId)) return candidate;
    }
    throw new StoreConflictError('slug', 'no free slug derived from this title in that month; give one');
  }

  function normalise(published: string | undefined): string {
    return published === undefined ? now().toISOString() : new Date(published).toISOString();
  }

  const store: MemoryStore = {
    failWith: undefined,
    get closed() {
      return closed;
    },
    get closeCalls() {
      return closeCalls;
    },
    settings,
    async listArticles({ limit, offset }) {
      guard();
      return [...articles.values()].sort(newestFirst).slice(offset, offset + limit).map(summaryOf);
    },
    async countArticles() {
      guard();
      return articles.size;
    },
    async getArticle(id) {
      guard();
      return articles.get(id) ?? null;
    },
    async listArticlesByDate(year, month) {
      guard();
      const prefix = month === undefined ? `${String(year).padStart(4, '0')}-` : `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}`;
      return [...articles.values()].filter((article) => article.published.startsWith(prefix)).sort(newestFirst).map(headOf);
    },
    async getArticleBySlug(year, month, slug) {
      guard();
      const key = `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}`;
      return [...articles.values()].find((article) => article.slug === slug && monthKey(article.published) === key) ?? null;
    },
    async archive() {
      guard();
      const counts = new Map<string, number>();
      for (const article of articles.values()) counts.set(monthKey(article.published), (counts.get(monthKey(article.published)) ?? 0) + 1);
      const months: ArchiveMonth[] = [...counts].map(([key, count]) => ({ year: Number(key.slice(0, 4)), month: Number(key.slice(5, 7)), count }));
      return months.sort((a, b) => b.year - a.year || b.month - a.month);
    },
    async createArticle(input) {
      guard();
      const published = normalise(input.published);
      const slug = chooseSlug(input, published);
      const stamp = now().toISOString();
      const article: Article = { id: nextId, title: input.title, slug, body: input.body, published, createdAt: stamp, updatedAt: stamp };
      nextId += 1;
      articles.set(article.id, article);
      return article;
    },
    async replaceArticle(id, input) {
      guard();
      const existing = articles.get(id);
      if (existing === undefined) return null;
      const published = normalise(input.published);
      const slug = chooseSlug(input, published, id);
      const article: Article = { ...existing, title: input.title, slug, body: input.body, published, updatedAt: now().toISOString() };
      articles.set(id, article);
      return article;
    },
    async patchArticle(id, patch: ArticlePatch) {
      guard();
      const existing = articles.get(id);
      if (existing === undefined) return null;
      const published = patch.published === undefined ? existing.published : normalise(patch.published);
      const slug = patch.slug ?? existing.slug;
      assertSlugFree(slug, published, id);
      const article: Article = {
        ...existing,
        title: patch.title ?? existing.title,
        slug,
        body: patch.body ?? existing.body,
        published,
        updatedAt: now().toISOString(),
      };
      articles.set(id, article);
      return article;
    },
    async deleteArticle(id) {
      guard();
      return articles.delete(id);
    },
    async articlesAfter(afterId, limit) {
      guard();
      return [...articles.values()].filter((article) => article.id > afterId).sort((a, b) => a.id - b.id).slice(0, limit);
    },
    async maxArticleId() {
      guard();
      return Math.max(0, ...articles.keys());
    },
    async createJob(input) {
      guard();
      const stamp = now().toISOString();
      const job: Job = {
        ...input, state: 'queued', done: 0, result: null, error: null, steps: 0, leaseOwner: null, leaseUntil: null,
        createdAt: stamp, updatedAt: stamp, finishedAt: null,
      };
      jobs.set(job.id, job);
      return job;
    },
    async getJob(id) {
      guard();
      return jobs.get(id) ?? null;
    },
    async claimJob(id, owner, nowMs, leaseUntilMs) {
      guard();
      const job = jobs.get(id);
      if (job === undefined || (job.state !== 'queued' && job.state !== 'running') || job.nextStepAt > nowMs) return null;
      if (job.leaseUntil !== null && job.leaseUntil >= nowMs) return null;
      const claimed: Job = { ...job, leaseOwner: owner, leaseUntil: leaseUntilMs };
      jobs.set(id, claimed);
      return claimed;
    },
    async finishJobStep(id, owner, step) {
      guard();
      const job = jobs.get(id);
      if (job === undefined || job.leaseOwner !== owner) return false;
      const stamp = now().toISOString();
      const finished = step.state === 'done' || step.state === 'failed';
      jobs.set(id, { ...job, ...step, steps: job.steps + 1, leaseOwner: null, leaseUntil: null, updatedAt: stamp, finishedAt: finished ? stamp : null });
      return true;
    },
    async getOrCreateSetting(name, create) {
      guard();
      const existing = settings.get(name);
      if (existing !== undefined) return existing;
      const value = create();
      settings.set(name, value);
      return value;
    },
    async close() {
      closeCalls += 1;
      closed = true;
    },
  };

  function guard(): void {
    if (store.failWith !== undefined) throw store.failWith;
    if (closed) throw new Error('the memory store is closed');
  }

  let id = 0;
  for (const input of options.articles ?? []) {
    const published = normalise(input.published);
    id += 1;
    const stamp = now().toISOString();
    articles.set(id, { id, title: input.title, slug: input.slug ?? slugify(input.title), body: input.body, published, createdAt: stamp, updatedAt: stamp });
  }
  nextId = id + 1;
  return store;
}
