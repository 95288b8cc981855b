/**
 * 307 Temporary Redirect (RFC 9110 §15.4.8): /articles/latest/ and /api/articles/latest/ point
 * at the newest article. Temporary, because the target changes with every new article (a 301
 * would be cached for good); 307 rather than 302 because the client must repeat the same
 * method and body: `curl -L -X PATCH …/api/articles/latest/` patches the newest article.
 */
import { TwotierError } from '../../../common/errors.js';
import type { View, ViewContext } from '../context.js';
import { pad2, publishedParts } from '../templates/articles.js';

async function newest(ctx: ViewContext) {
  const [article] = await ctx.deps.store.listArticles({ limit: 1, offset: 0 });
  if (article === undefined) throw new TwotierError('APP_ERR_NOT_FOUND', 'there are no articles yet');
  return article;
}

function temporaryRedirect(location: string) {
  // Not cacheable without explicit freshness (§15.4.8), and no-store says so to every cache.
  return { status: 307, headers: { Location: location, 'Cache-Control': 'no-store' }, body: '' };
}

export const latestArticlePage: View = async (ctx) => {
  const article = await newest(ctx);
  const { year, month } = publishedParts(article);
  return temporaryRedirect(ctx.deps.reverse('article-detail', { year, month: pad2(month), slug: article.slug }));
};

export const latestArticleApi: View = async (ctx) => temporaryRedirect(ctx.deps.reverse('api-article', { id: (await newest(ctx)).id }));
