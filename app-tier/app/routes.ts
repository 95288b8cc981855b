/**
 * The URL table, in one place, Django-style. Names are used by reverse() (redirects, links,
 * Location headers), so URLs are written here and nowhere else. Every converter of Django's is
 * in use: `int` (article ids, years), `slug` (article pages), `uuid` (report jobs), `str` (a
 * word of a report: any text but "/"), `path` (resolve: a whole path), and one `re_path` twin
 * of a `path` route (the archive year) to compare them.
 */
import { path, rePath, type RouteDefinition } from '../router/index.js';
import type { View } from './context.js';
import { createArticle, deleteArticle, getArticle, listArticles, patchArticle, replaceArticle } from './views/articles-api.js';
import { newArticleForm, submitArticleForm } from './views/article-form.js';
import { archiveIndexPage, detailPage, monthPage, yearPage } from './views/articles-pages.js';
import { echo } from './views/echo.js';
import { articleEvents } from './live/events.js';
import { liveUpgradeRequired } from './live/socket.js';
import { slowView, throwingView } from './views/fault.js';
import { latestArticleApi, latestArticlePage } from './views/latest.js';
import { createReport, report, reportJob, reportWord } from './views/reports.js';
import { archiveYearApi, resolvePath, routeTable } from './views/routing.js';
import { statusCodesPage } from './views/status-codes.js';
import { urlparse } from './views/urlparse.js';

export interface RouteOptions {
  /** Adds GET /api/_fault/throw (a view that throws: 500) and GET /api/_fault/slow?ms= (a slow view: the proxy's 504). */
  readonly faultRoutes: boolean;
}

export function appRoutes(options: RouteOptions): RouteDefinition<View>[] {
  const routes: RouteDefinition<View>[] = [
    // The inspector answers /api/echo and everything under it, any method, so it is a regex route.
    rePath(/api\/echo(?:\/.*)?/s, { '*': echo }, 'echo'),
    path('api/articles/', { GET: listArticles, POST: createArticle }, 'api-articles'),
    // Any method: a 307 tells the client to repeat this very request at the newest article.
    // The live feed: Server-Sent Events here, the same events over WebSocket at api/live.
    path('api/articles/events', { GET: articleEvents }, 'article-events'),
    path('api/live', { GET: liveUpgradeRequired }, 'live'),
    path('api/articles/latest/', { '*': latestArticleApi }, 'api-article-latest'),
    path('api/articles/<int:id>/', { GET: getArticle, PUT: replaceArticle, PATCH: patchArticle, DELETE: deleteArticle }, 'api-article'),
    path('api/reports/', { POST: createReport }, 'reports'),
    path('api/reports/jobs/<uuid:id>/', { GET: reportJob }, 'report-job'),
    path('api/reports/<uuid:id>/', { GET: report }, 'report'),
    path('api/reports/<uuid:id>/words/<str:word>/', { GET: reportWord }, 'report-word'),
    path('api/urlparse', { GET: urlparse }, 'urlparse'),
    path('api/routes/', { GET: routeTable }, 'routes'),
    path('api/resolve/<path:target>', { GET: resolvePath }, 'resolve'),
    path('api/archive/<int:year>/', { GET: archiveYearApi }, 'api-archive-year'),
    rePath(/api\/archive-re\/(?<year>[0-9]{4})\//, { GET: archiveYearApi }, 'api-archive-year-re'),
    path('articles/', { GET: archiveIndexPage, POST: submitArticleForm }, 'archive'),
    path('articles/new/', { GET: newArticleForm }, 'article-new'),
    path('articles/latest/', { '*': latestArticlePage }, 'article-latest'),
    path('articles/<int:year>/', { GET: yearPage }, 'archive-year'),
    path('articles/<int:year>/<int:month>/', { GET: monthPage }, 'archive-month'),
    path('articles/<int:year>/<int:month>/<slug:slug>/', { GET: detailPage }, 'article-detail'),
    path('status-codes/', { GET: statusCodesPage }, 'status-codes'),
  ];
  if (options.faultRoutes) {
    routes.push(path('api/_fault/throw', { GET: throwingView }, 'fault-throw'));
    routes.push(path('api/_fault/slow', { GET: slowView }, 'fault-slow'));
  }
  return routes;
}
