/**
 * The HTML form flow: GET /articles/new/ shows the form with a fresh CSRF token; its POST to
 * /articles/ answers 303 See Other to the new article (RFC 9110 §15.4.4: the browser follows
 * with a GET, so reloading does not post twice), 400 with the form and its errors, 403 when the
 * CSRF token is missing or wrong, 401 when APP_TOKEN is set and the token field is wrong.
 */
import type { AppResponse } from '../../../common/app-interface.js';
import { TwotierError } from '../../../common/errors.js';
import { requireBearer } from '../auth.js';
import type { ViewContext, View } from '../context.js';
import { CSRF_COOKIE, CSRF_FIELD, requestWasHttps } from '../csrf.js';
import { parseCookies, readForm } from '../request-body.js';
import { html, redirect } from '../responses.js';
import { isStoreConflict } from '../error-response.js';
import { articleForm } from '../templates/article-form.js';
import { pad2, publishedParts } from '../templates/articles.js';
import { layout } from '../templates/layout.js';
import { eventArticle } from '../live/events.js';
import { validateArticle, type FieldError } from '../validation.js';

const FORM_FIELDS = ['title', 'slug', 'body', 'published'] as const;

interface FormState {
  readonly values?: Readonly<Record<string, string>>;
  readonly errors?: readonly FieldError[];
}

/** Renders the form with a new per-form token, setting the CSRF cookie when the browser has none. */
async function renderForm(ctx: ViewContext, status: number, state: FormState, extraHeaders: Record<string, string> = {}): Promise<AppResponse> {
  const csrf = await ctx.deps.csrf();
  const cookie = csrf.cookieFor(parseCookies(ctx.request.headers['cookie']).get(CSRF_COOKIE));
  const page = articleForm({
    action: ctx.deps.reverse('archive'),
    csrfToken: csrf.issue(cookie.value),
    askToken: ctx.deps.appToken !== undefined && ctx.deps.appToken !== '',
    ...state,
  });
  // Behind a TLS-terminating web tier (or a trusted proxy in front of it) the cookie must be Secure too.
  const secure = requestWasHttps(ctx.request.headers);
  const headers: Record<string, string> = {
    ...extraHeaders,
    // The page holds a one-off token: never cache it, and never share it between cookies.
    'Cache-Control': 'no-store',
    Vary: 'Cookie',
  };
  if (cookie.isNew) headers['Set-Cookie'] = csrf.setCookie(cookie.value, secure);
  return html(status, layout({ title: 'Write an article', main: page, workerPid: ctx.deps.workerPid }), headers);
}

export const newArticleForm: View = (ctx) => renderForm(ctx, 200, {});

export const submitArticleForm: View = async (ctx) => {
  const form = readForm(ctx.request.headers, ctx.request.body);
  const csrf = await ctx.deps.csrf();
  const failure = csrf.check(parseCookies(ctx.request.headers['cookie']).get(CSRF_COOKIE), form.get(CSRF_FIELD) ?? undefined);
  if (failure !== null) {
    throw new TwotierError('APP_ERR_FORBIDDEN', `CSRF verification failed (${failure}). Reload the form and submit it again; cookies must be enabled.`);
  }

  const values: Record<string, string> = {};
  for (const name of FORM_FIELDS) values[name] = form.get(name) ?? '';

  try {
    requireBearer(ctx.request.headers, ctx.deps.appToken, form.get('token') ?? undefined);
  } catch (error) {
    if (!(error instanceof TwotierError)) throw error;
    return renderForm(ctx, 401, { values, errors: [{ field: 'token', message: error.message }] }, { ...error.headers });
  }

  // The same rules as the JSON API, the body maximum included: 400 with the form and its errors.
  const result = validateArticle(values, 'full', { maxBodyBytes: ctx.deps.maxArticleBodyBytes });
  if (!result.ok) return renderForm(ctx, 400, { values, errors: result.errors });

  let created;
  try {
    created = await ctx.deps.store.createArticle(result.value);
    ctx.deps.live?.publish('article.created', eventArticle(ctx.deps, created));
  } catch (error) {
    if (!isStoreConflict(error)) throw error;
    return renderForm(ctx, 400, { values, errors: [{ field: 'slug', message: 'an article with this slug already exists in that month; choose another slug' }] });
  }
  const { year, month } = publishedParts(created);
  return redirect(303, ctx.deps.reverse('article-detail', { year, month: pad2(month), slug: created.slug }));
};
