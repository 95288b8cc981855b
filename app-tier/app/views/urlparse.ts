/** GET /api/urlparse?url=… : the chapter's urlparse example as a service (app-tier/app/url-parts.ts). */
import { TwotierError } from '../../../common/errors.js';
import type { View } from '../context.js';
import { json } from '../responses.js';
import { urlParts, UrlPartsError } from '../url-parts.js';

export const FRAGMENT_NOTE = 'the fragment (#…) stays in the browser: it is never sent in a request, so no server ever sees it (RFC 9110 §4.2.5, RFC 3986 §3.5)';

export const urlparse: View = async ({ query }) => {
  const url = query.get('url');
  if (url === null || url === '') {
    throw new TwotierError('APP_ERR_VALIDATION', 'give the URL to take apart as ?url=… (percent-encoded: curl -G --data-urlencode url=…)', { field: 'url' });
  }
  try {
    return json(200, { url, ...urlParts(url), note: FRAGMENT_NOTE });
  } catch (error) {
    if (error instanceof UrlPartsError) throw new TwotierError('APP_ERR_VALIDATION', error.message, { field: 'url', cause: error });
    throw error;
  }
};
