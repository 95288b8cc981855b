/** The article pages: archive index, year, month, detail. Values are escaped by `html`. */
import type { ArchiveMonth, Article, ArticleHead } from '../../store/types.js';
import { html, type SafeHtml } from './html.js';

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

export function monthName(month: number): string {
  return MONTHS[month - 1] ?? String(month);
}

export function pad2(value: number): string {
  return String(value).padStart(2, '0');
}

/** The calendar fields of an article's publication date (UTC, as the archive URLs use). */
export function publishedParts(article: Pick<Article, 'published'>): { year: number; month: number } {
  const date = new Date(article.published);
  return { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1 };
}

export type LinkTo = (article: ArticleHead) => string;

function dateOf(article: Pick<Article, 'published'>): SafeHtml {
  return html`<time datetime="${article.published}">${article.published.slice(0, 10)}</time>`;
}

/** Lists show heads only (title, link, date): the archive pages never load a body. */
function articleList(articles: readonly ArticleHead[], linkTo: LinkTo, live = false): SafeHtml {
  // data-live-articles: site.js keeps this list current from /api/articles/events (the page works without it).
  return html`<ul class="article-list"${live ? html` data-live-articles` : ''}>
${articles.map((article) => html`<li data-article-id="${article.id}"><a href="${linkTo(article)}">${article.title}</a> ${dateOf(article)}</li>
`)}</ul>`;
}

export interface ArchiveIndexOptions {
  readonly months: readonly ArchiveMonth[];
  readonly latest: readonly ArticleHead[];
  readonly linkTo: LinkTo;
  readonly yearUrl: (year: number) => string;
  readonly monthUrl: (year: number, month: number) => string;
}

export function archiveIndex(options: ArchiveIndexOptions): SafeHtml {
  if (options.months.length === 0) {
    return html`<h1>Archive</h1>
<p>No articles yet. <a href="/articles/new/">Write the first one.</a></p>`;
  }
  const years = [...new Set(options.months.map((entry) => entry.year))];
  return html`<h1>Archive</h1>
<section class="archive">
${years.map((year) => html`<h2><a href="${options.yearUrl(year)}">${year}</a></h2>
<ul>
${options.months.filter((entry) => entry.year === year).map((entry) => html`<li><a href="${options.monthUrl(entry.year, entry.month)}">${monthName(entry.month)}</a> (${entry.count})</li>
`)}</ul>
`)}</section>
<section class="latest">
<h2>Latest</h2>
${articleList(options.latest, options.linkTo, true)}
</section>`;
}

export function yearArchive(year: number, articles: readonly ArticleHead[], linkTo: LinkTo, monthUrl: (month: number) => string): SafeHtml {
  const months = [...new Set(articles.map((article) => publishedParts(article).month))];
  return html`<h1>${year}</h1>
${months.map((month) => html`<h2><a href="${monthUrl(month)}">${monthName(month)}</a></h2>
${articleList(articles.filter((article) => publishedParts(article).month === month), linkTo)}
`)}<p><a href="/articles/">All years</a></p>`;
}

export function monthArchive(year: number, month: number, articles: readonly ArticleHead[], linkTo: LinkTo, yearUrl: string): SafeHtml {
  return html`<h1>${monthName(month)} ${year}</h1>
${articleList(articles, linkTo)}
<p><a href="${yearUrl}">All of ${year}</a></p>`;
}

/** Paragraphs from blank-line-separated text; the text is escaped, never interpreted as HTML. */
function paragraphs(text: string): SafeHtml[] {
  return text
    .split(/\r?\n\s*\r?\n/)
    .map((block) => block.trim())
    .filter((block) => block.length > 0)
    .map((block) => html`<p>${block}</p>
`);
}

export function articleDetail(article: Article, monthUrl: string, apiUrl: string): SafeHtml {
  return html`<article class="article">
<h1>${article.title}</h1>
<p class="meta">Published ${dateOf(article)} · <a href="${monthUrl}">more from this month</a> · <a href="${apiUrl}">as JSON</a></p>
${paragraphs(article.body)}</article>`;
}
