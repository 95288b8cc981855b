/**
 * The articles JSON resource, each method doing what the HTTP method table says (RFC 9110 §9.3):
 * GET reads, POST creates (201 + Location), PUT replaces, PATCH changes some fields (RFC 5789),
 * DELETE removes (204). Writes need the bearer token when APP_TOKEN is set.
 */
import { TwotierError } from '../../../common/errors.js';
import type { Article, ArticleSummary } from '../../store/types.js';
import { requireBearer } from '../auth.js';
import type { View, ViewContext } from '../context.js';
import { readJson } from '../request-body.js';
import { eventArticle } from '../live/events.js';
import { json, noContent } from '../responses.js';
import { validateArticle, type Validated, type ValidationLimits } from '../validation.js';

export const LIST_DEFAULT_LIMIT = 20;
export const LIST_MAX_LIMIT = 100;
/** Deep offsets make the database walk and skip rows; past this, filter by date instead. */
export const LIST_MAX_OFFSET = 100_000;

function queryInt(ctx: ViewContext, name: string, fallback: number, min: number, max: number): number {
  const raw = ctx.query.get(name);
  if (raw === null || raw === '') return fallback;
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new TwotierError('APP_ERR_VALIDATION', `${name} must be an integer from ${min} to ${max}`, { field: name });
  }
  return value;
}

function unwrap<T>(result: Validated<T>): T {
  if (result.ok) return result.value;
  const [first] = result.errors;
  throw new TwotierError('APP_ERR_VALIDATION', first?.message ?? 'invalid article', first?.field ? { field: first.field } : {});
}

function limits(ctx: ViewContext): ValidationLimits {
  return { maxBodyBytes: ctx.deps.maxArticleBodyBytes };
}

function articleId(ctx: ViewContext): number {
  return ctx.params['id'] as number;
}

function notFound(id: number): TwotierError {
  return new TwotierError('APP_ERR_NOT_FOUND', `no article with id ${id}`);
}

function found(article: Article | null, id: number): Article {
  if (article === null) throw notFound(id);
  return article;
}

/**
 * A list item is a summary: every field of the article but `body`, an `excerpt` (its first
 * EXCERPT_CHARACTERS characters) and the `url` that reads the whole article. A list of 100 is
 * then tens of KiB whatever the bodies weigh (issue 12.6: with bodies it was 102 MB).
 */
function listItem(ctx: ViewContext, summary: ArticleSummary): Record<string, unknown> {
  const { id, title, slug, excerpt, published, createdAt, updatedAt } = summary;
  return { id, title, slug, excerpt, published, createdAt, updatedAt, url: ctx.deps.reverse('api-article', { id }) };
}

function updated(ctx: ViewContext, article: Article): Article {
  ctx.deps.live?.publish('article.updated', eventArticle(ctx.deps, article));
  return article;
}

export const listArticles: View = async (ctx) => {
  const limit = queryInt(ctx, 'limit', LIST_DEFAULT_LIMIT, 1, LIST_MAX_LIMIT);
  const offset = queryInt(ctx, 'offset', 0, 0, LIST_MAX_OFFSET);
  const [summaries, total] = await Promise.all([ctx.deps.store.listArticles({ limit, offset }), ctx.deps.store.countArticles()]);
  return json(200, { articles: summaries.map((summary) => listItem(ctx, summary)), total, limit, offset });
};

export const createArticle: View = async (ctx) => {
  requireBearer(ctx.request.headers, ctx.deps.appToken);
  const input = unwrap(validateArticle(readJson(ctx.request.headers, ctx.request.body), 'full', limits(ctx)));
  const article = await ctx.deps.store.createArticle(input);
  ctx.deps.live?.publish('article.created', eventArticle(ctx.deps, article));
  const location = ctx.deps.reverse('api-article', { id: article.id });
  // RFC 9110 §15.3.2: 201 with Location naming the new resource.
  return json(201, article, { Location: location });
};

export const getArticle: View = async (ctx) => {
  const id = articleId(ctx);
  return json(200, found(await ctx.deps.store.getArticle(id), id));
};

export const replaceArticle: View = async (ctx) => {
  requireBearer(ctx.request.headers, ctx.deps.appToken);
  const id = articleId(ctx);
  const input = unwrap(validateArticle(readJson(ctx.request.headers, ctx.request.body), 'full', limits(ctx)));
  return json(200, updated(ctx, found(await ctx.deps.store.replaceArticle(id, input), id)));
};

export const patchArticle: View = async (ctx) => {
  requireBearer(ctx.request.headers, ctx.deps.appToken);
  const id = articleId(ctx);
  const patch = unwrap(validateArticle(readJson(ctx.request.headers, ctx.request.body), 'partial', limits(ctx)));
  return json(200, updated(ctx, found(await ctx.deps.store.patchArticle(id, patch), id)));
};

export const deleteArticle: View = async (ctx) => {
  requireBearer(ctx.request.headers, ctx.deps.appToken);
  const id = articleId(ctx);
  // Read first, for the event's title; a write racing in between changes only what the event names.
  const before = ctx.deps.live === undefined ? null : await ctx.deps.store.getArticle(id);
  if (!(await ctx.deps.store.deleteArticle(id))) throw notFound(id);
  ctx.deps.live?.publish('article.deleted', eventArticle(ctx.deps, before ?? { id, title: '', slug: '', published: '' }, true));
  return noContent();
};
