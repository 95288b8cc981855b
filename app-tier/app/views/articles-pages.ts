/** The server-rendered archive: index by year and month, a year, a month, one article. */
import { TwotierError } from '../../../common/errors.js';
import type { ArticleHead } from '../../store/types.js';
import type { AppDeps, View } from '../context.js';
import { html as htmlResponse } from '../responses.js';
import { archiveIndex, articleDetail, monthArchive, monthName, pad2, publishedParts, yearArchive } from '../templates/articles.js';
import { layout } from '../templates/layout.js';

const LATEST_ON_INDEX = 10;

function pageNotFound(what: string): TwotierError {
  return new TwotierError('APP_ERR_NOT_FOUND', `${what} was not found`);
}

/** Year and month from the URL; out-of-range values are pages that do not exist. */
function yearParam(value: unknown): number {
  const year = value as number;
  if (year < 1 || year > 9999) throw pageNotFound(`the year ${year}`);
  return year;
}

function monthParam(value: unknown): number {
  const month = value as number;
  if (month < 1 || month > 12) throw pageNotFound(`month ${month}`);
  return month;
}

function links(deps: AppDeps) {
  return {
    article: (article: ArticleHead): string => {
      const { year, month } = publishedParts(article);
      return deps.reverse('article-detail', { year, month: pad2(month), slug: article.slug });
    },
    year: (year: number): string => deps.reverse('archive-year', { year }),
    month: (year: number, month: number): string => deps.reverse('archive-month', { year, month: pad2(month) }),
  };
}

export const archiveIndexPage: View = async ({ deps }) => {
  const [months, latest] = await Promise.all([deps.store.archive(), deps.store.listArticles({ limit: LATEST_ON_INDEX, offset: 0 })]);
  const link = links(deps);
  const main = archiveIndex({ months, latest, linkTo: link.article, yearUrl: link.year, monthUrl: link.month });
  return htmlResponse(200, layout({ title: 'Archive', main, workerPid: deps.workerPid }));
};

export const yearPage: View = async ({ deps, params }) => {
  const year = yearParam(params['year']);
  const articles = await deps.store.listArticlesByDate(year);
  // Django's YearArchiveView with allow_empty=False: a year without articles is not a page.
  if (articles.length === 0) throw pageNotFound(`an archive for ${year}`);
  const link = links(deps);
  const main = yearArchive(year, articles, link.article, (month) => link.month(year, month));
  return htmlResponse(200, layout({ title: String(year), main, workerPid: deps.workerPid }));
};

export const monthPage: View = async ({ deps, params }) => {
  const year = yearParam(params['year']);
  const month = monthParam(params['month']);
  const articles = await deps.store.listArticlesByDate(year, month);
  if (articles.length === 0) throw pageNotFound(`an archive for ${monthName(month)} ${year}`);
  const link = links(deps);
  const main = monthArchive(year, month, articles, link.article, link.year(year));
  return htmlResponse(200, layout({ title: `${monthName(month)} ${year}`, main, workerPid: deps.workerPid }));
};

export const detailPage: View = async ({ deps, params }) => {
  const year = yearParam(params['year']);
  const month = monthParam(params['month']);
  const article = await deps.store.getArticleBySlug(year, month, params['slug'] as string);
  if (article === null) throw pageNotFound('this article');
  const link = links(deps);
  const main = articleDetail(article, link.month(year, month), deps.reverse('api-article', { id: article.id }));
  return htmlResponse(200, layout({ title: article.title, main, workerPid: deps.workerPid }));
};

