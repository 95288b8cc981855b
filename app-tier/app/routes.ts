/**
 * The URL table, in one place, Django-style. Names are used by reverse() (redirects, links,
 * Location headers), so URLs are written here and nowhere else.
 */
import { path, rePath, type RouteDefinition } from '../router/index.js';
import type { View } from './context.js';
import { createArticle, deleteArticle, getArticle, listArticles, patchArticle, replaceArticle } from './views/articles-api.js';
import { newArticleForm, submitArticleForm } from './views/article-form.js';
import { archiveIndexPage, detailPage, monthPage, yearPage } from './views/articles-pages.js';
import { echo } from './views/echo.js';

export interface RouteOptions {
  /** Adds GET /api/_fault/throw, a view that throws (for the 500 test). */
  readonly faultRoutes: boolean;
}

const throwingView: View = async () => {
  throw new Error('deliberate fault from /api/_fault/throw');
};

export function appRoutes(options: RouteOptions): RouteDefinition<View>[] {
  const routes: RouteDefinition<View>[] = [
    // The inspector answers /api/echo and everything under it, any method, so it is a regex route.
    rePath(/api\/echo(?:\/.*)?/s, { '*': echo }, 'echo'),
    path('api/articles/', { GET: listArticles, POST: createArticle }, 'api-articles'),
    path('api/articles/<int:id>/', { GET: getArticle, PUT: replaceArticle, PATCH: patchArticle, DELETE: deleteArticle }, 'api-article'),
    path('articles/', { GET: archiveIndexPage, POST: submitArticleForm }, 'archive'),
    path('articles/new/', { GET: newArticleForm }, 'article-new'),
    path('articles/<int:year>/', { GET: yearPage }, 'archive-year'),
    path('articles/<int:year>/<int:month>/', { GET: monthPage }, 'archive-month'),
    path('articles/<int:year>/<int:month>/<slug:slug>/', { GET: detailPage }, 'article-detail'),
  ];
  if (options.faultRoutes) routes.push(path('api/_fault/throw', { GET: throwingView }, 'fault-throw'));
  return routes;
}
