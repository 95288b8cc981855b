import type { ArticleInput } from './types.js';

/** A few articles so the pages are not empty on first start; dates echo Django's tutorial URLs. */
export const SEED_ARTICLES: readonly ArticleInput[] = [
  {
    title: 'Hello from the app tier',
    slug: 'hello-from-the-app-tier',
    body: 'This page was rendered by a persistent worker of the app tier and forwarded by the web tier.',
    published: '2003-05-17T10:00:00.000Z',
  },
  {
    title: 'Static and dynamic pages',
    slug: 'static-and-dynamic-pages',
    body: 'The CSS of this page came from the web tier; the HTML came from the app tier. Look at X-Served-By.',
    published: '2003-05-20T09:30:00.000Z',
  },
  {
    title: 'CGI: one process per request',
    slug: 'cgi-one-process-per-request',
    body: 'The same application can run as a CGI program under /cgi-bin/app/: compare the pid in /api/echo.',
    published: '2004-01-08T14:00:00.000Z',
  },
];
