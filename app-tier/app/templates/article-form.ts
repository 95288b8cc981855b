/** The "new article" form, shown empty or again with the submitted values and their errors. */
import { CSRF_FIELD } from '../csrf.js';
import type { FieldError } from '../validation.js';
import { html, type SafeHtml } from './html.js';

export interface ArticleFormOptions {
  readonly action: string;
  readonly csrfToken: string;
  readonly values?: Readonly<Record<string, string>>;
  readonly errors?: readonly FieldError[];
  /** Shows a token field when article writes are protected by APP_TOKEN. */
  readonly askToken: boolean;
}

function fieldError(errors: readonly FieldError[], field: string): SafeHtml {
  const error = errors.find((candidate) => candidate.field === field);
  return error === undefined ? html`` : html`<p class="field-error" id="${field}-error">${error.message}</p>`;
}

export function articleForm(options: ArticleFormOptions): SafeHtml {
  const values = options.values ?? {};
  const errors = options.errors ?? [];
  const value = (name: string): string => values[name] ?? '';
  const invalid = (name: string): SafeHtml | string =>
    errors.some((error) => error.field === name) ? html` aria-invalid="true" aria-describedby="${name}-error"` : '';
  return html`<h1>Write an article</h1>
${errors.length > 0 ? html`<div class="form-errors" role="alert"><p>Please correct the errors below.</p><ul>${errors.map((error) => html`<li>${error.message}</li>`)}</ul></div>` : ''}
<form method="post" action="${options.action}" class="article-form">
<input type="hidden" name="${CSRF_FIELD}" value="${options.csrfToken}">
<label for="title">Title</label>
<input id="title" name="title" required maxlength="200" value="${value('title')}"${invalid('title')}>
${fieldError(errors, 'title')}
<label for="slug">Slug <span class="hint">(optional; made from the title when empty)</span></label>
<input id="slug" name="slug" pattern="[-a-zA-Z0-9_]+" value="${value('slug')}"${invalid('slug')}>
${fieldError(errors, 'slug')}
<label for="published">Published <span class="hint">(optional; today when empty)</span></label>
<input id="published" name="published" type="date" value="${value('published')}"${invalid('published')}>
${fieldError(errors, 'published')}
<label for="body">Body</label>
<textarea id="body" name="body" rows="12"${invalid('body')}>${value('body')}</textarea>
${fieldError(errors, 'body')}
${options.askToken ? html`<label for="token">Write token <span class="hint">(APP_TOKEN)</span></label>
<input id="token" name="token" type="password" autocomplete="off"${invalid('token')}>
${fieldError(errors, 'token')}
` : ''}<button type="submit">Publish</button>
</form>`;
}
