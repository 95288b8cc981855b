/**
 * The URL table made visible, Django-style. GET /api/routes/ lists it in the order it is tried
 * (what a 404 lists in debug mode); GET /api/resolve/<path:target> is Django's resolve(): which
 * route a path would reach and the typed parameters its converters make, without calling it.
 * The `path` converter is what lets one parameter hold a whole path with its slashes.
 *
 * /api/archive/<int:year>/ and its re_path twin /api/archive-re/(?P<year>[0-9]{4})/ are the
 * Django documentation's own comparison: the `int` converter makes a number and takes any
 * digits, the regular expression takes exactly four and hands over a string.
 */
import { TwotierError } from '../../../common/errors.js';
import type { View } from '../context.js';
import { json } from '../responses.js';

export const routeTable: View = async ({ deps }) => json(200, { routes: deps.routes() });

function typed(params: Readonly<Record<string, string | number>>): Record<string, { value: string | number; type: string }> {
  return Object.fromEntries(Object.entries(params).map(([name, value]) => [name, { value, type: typeof value }]));
}

export const resolvePath: View = async ({ deps, params, query }) => {
  const target = `/${params['target'] as string}`;
  const method = (query.get('method') ?? 'GET').toUpperCase();
  const resolution = deps.resolve(method, target);
  const answer: Record<string, unknown> = { path: target, method, outcome: resolution.kind };
  if (resolution.kind === 'match') {
    const entry = deps.routes().find((route) => route.name !== undefined && route.name === resolution.routeName);
    Object.assign(answer, { route: resolution.routeName ?? null, pattern: entry?.pattern ?? null, kind: entry?.kind ?? null, params: typed(resolution.params) });
  } else if (resolution.kind === 'redirect') {
    Object.assign(answer, { status: resolution.status, location: resolution.location });
  } else if (resolution.kind === 'method-not-allowed' || resolution.kind === 'options') {
    answer['allow'] = resolution.allow;
  }
  return json(200, answer);
};

/** A year's articles (heads), for the twin routes; the route's own view of `year` is shown as it came. */
export const archiveYearApi: View = async ({ deps, params, rawPath }) => {
  const given = params['year'] as string | number;
  const year = Number(given);
  if (!Number.isSafeInteger(year) || year < 1 || year > 9999) throw new TwotierError('APP_ERR_NOT_FOUND', `there is no year ${given}`);
  const articles = await deps.store.listArticlesByDate(year);
  const route = deps.resolve('GET', rawPath);
  return json(200, {
    year: given,
    yearType: typeof given,
    route: route.kind === 'match' ? route.routeName ?? null : null,
    articles: articles.map(({ id, title, slug, published }) => ({ id, title, slug, published, url: deps.reverse('api-article', { id }) })),
  });
};
