/**
 * The chapter's table of status codes, each with where this project produces it and a recipe
 * that produces it live. The page (/status-codes/) shows it; test/e2e/status-codes.test.ts
 * follows every recipe and checks the code, so the page cannot drift from what the tiers do.
 */

export type Tier = 'web' | 'app';

/** What must be arranged before the request (the page says how). */
export type Setup = 'none' | 'app-token' | 'fault-routes' | 'app-stopped' | 'report-done';

export interface Recipe {
  readonly method: string;
  /** Path on the web tier (http://127.0.0.1:8080 with `npm start`). `{job}` is the Location a POST /api/reports/ answered. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Raw bytes for `nc` instead of curl (a request curl would never send). */
  readonly raw?: string;
  readonly setup: Setup;
  /** A browser can follow it as a link (a GET with nothing special). */
  readonly link: boolean;
  /** Send it this many times; the last answer is the one meant (default 1). */
  readonly repeat?: number;
}

export interface StatusCodeEntry {
  readonly code: number | '1xx';
  /** The code the recipe produces (1xx: 100). */
  readonly status: number;
  readonly reason: string;
  readonly meaning: string;
  readonly tier: Tier;
  readonly why: string;
  readonly recipe: Recipe;
}

const JSON_BODY = { 'Content-Type': 'application/json' };
const ARTICLE = '{"title":"Status codes","body":"Every one of them, live."}';

export const SETUPS: Readonly<Record<Setup, string>> = {
  none: '',
  'app-token': 'Start with a write token: APP_TOKEN=s3cret npm start',
  'fault-routes': 'Start with the fault routes: APP_FAULT_ROUTES=true WEB_PROXY_RESPONSE_TIMEOUT_MS=2000 npm start (off by default)',
  'app-stopped': 'Run the web tier with no app tier behind it and its active health checks off, so it still tries: WEB_PROXY_HEALTH_INTERVAL_MS=0 npm run web',
  'report-done': 'First POST /api/reports/ (the 202 row); {job} is its Location; ask after Retry-After',
};

export const STATUS_CODES: readonly StatusCodeEntry[] = [
  {
    code: '1xx', status: 100, reason: 'Continue', tier: 'web',
    meaning: 'Informational: the request so far is fine, go on. 100 Continue answers Expect: 100-continue before the body is sent (RFC 9110 §15.2.1, §10.1.1).',
    why: 'The web tier reads the request head first and says "send the body" itself; a 101 Switching Protocols for a WebSocket upgrade is relayed from the app.',
    recipe: { method: 'POST', path: '/api/articles/', headers: { ...JSON_BODY, Expect: '100-continue' }, body: ARTICLE, setup: 'none', link: false },
  },
  {
    code: 200, status: 200, reason: 'OK', tier: 'app',
    meaning: 'The request succeeded; the body is the answer (RFC 9110 §15.3.1).',
    why: 'The application read the articles from its store; the web tier passed the answer on.',
    recipe: { method: 'GET', path: '/api/articles/', setup: 'none', link: true },
  },
  {
    code: 201, status: 201, reason: 'Created', tier: 'app',
    meaning: 'A new resource was made; Location names it (RFC 9110 §15.3.2).',
    why: 'Only the application knows the new article’s id.',
    recipe: { method: 'POST', path: '/api/articles/', headers: JSON_BODY, body: ARTICLE, setup: 'none', link: false },
  },
  {
    code: 202, status: 202, reason: 'Accepted', tier: 'app',
    meaning: 'Accepted for processing, not done yet: Location is the job to poll, Retry-After says when (RFC 9110 §15.3.3).',
    why: 'The application stores the job (word counts over all articles) and runs it in steps; any worker may finish it.',
    recipe: { method: 'POST', path: '/api/reports/', headers: JSON_BODY, body: '{}', setup: 'none', link: false },
  },
  {
    code: 301, status: 301, reason: 'Moved Permanently', tier: 'app',
    meaning: 'The resource lives at another URL for good; clients and caches may remember it (RFC 9110 §15.4.2).',
    why: 'The application’s router adds the missing slash (Django’s APPEND_SLASH): it knows which URLs exist.',
    recipe: { method: 'GET', path: '/articles', setup: 'none', link: true },
  },
  {
    code: 303, status: 303, reason: 'See Other', tier: 'app',
    meaning: 'The answer is elsewhere: GET the Location (RFC 9110 §15.4.4). After a form post, it keeps a reload from posting twice.',
    why: 'The finished report job points at its result; the form post points at the new article.',
    recipe: { method: 'GET', path: '{job}', setup: 'report-done', link: false },
  },
  {
    code: 307, status: 307, reason: 'Temporary Redirect', tier: 'app',
    meaning: 'Ask the Location this time, with the same method and body (RFC 9110 §15.4.8); next time ask here again.',
    why: '“The latest article” changes with every new one: only the application knows which it is now.',
    recipe: { method: 'GET', path: '/articles/latest/', setup: 'none', link: true },
  },
  {
    code: 400, status: 400, reason: 'Bad Request', tier: 'web',
    meaning: 'The request itself is malformed (RFC 9110 §15.5.1); the body says which rule it broke.',
    why: 'HTTP syntax is the web tier’s job: lines must end in CRLF (RFC 9112 §2.2), HTTP/1.1 needs Host (§3.2). The app tier answers 400 for values it cannot use (?limit=abc).',
    recipe: { method: 'GET', path: '/', raw: 'GET / HTTP/1.1\nHost: localhost\n\n', setup: 'none', link: false },
  },
  {
    code: 401, status: 401, reason: 'Unauthorized', tier: 'app',
    meaning: 'Credentials are missing or wrong; WWW-Authenticate says which scheme to use (RFC 9110 §15.5.2).',
    why: 'The application decides who may write (APP_TOKEN, a bearer token).',
    recipe: { method: 'POST', path: '/api/articles/', headers: JSON_BODY, body: ARTICLE, setup: 'app-token', link: false },
  },
  {
    code: 403, status: 403, reason: 'Forbidden', tier: 'app',
    meaning: 'Understood and refused; credentials would not help (RFC 9110 §15.5.4).',
    why: 'A form post without the CSRF token the form carries: the application issued the token, so it checks it.',
    recipe: { method: 'POST', path: '/articles/', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'title=x&body=y', setup: 'none', link: false },
  },
  {
    code: 404, status: 404, reason: 'Not Found', tier: 'app',
    meaning: 'Nothing at this URL (RFC 9110 §15.5.5).',
    why: 'No article has this id: only the database knows. (A missing static file is the web tier’s 404.)',
    recipe: { method: 'GET', path: '/api/articles/999999/', setup: 'none', link: true },
  },
  {
    code: 500, status: 500, reason: 'Internal Server Error', tier: 'app',
    meaning: 'The server failed on a request it should have answered (RFC 9110 §15.6.1).',
    why: 'A view threw: the application logs the error and answers with the request id only.',
    recipe: { method: 'GET', path: '/api/_fault/throw', setup: 'fault-routes', link: true },
  },
  {
    code: 502, status: 502, reason: 'Bad Gateway', tier: 'web',
    meaning: 'The gateway got no valid answer from the server behind it (RFC 9110 §15.6.3).',
    why: 'Only the web tier talks to the app tier: it sees the refused connection. (With health checks on, a stopped app tier is 502 only until the next check, WEB_PROXY_HEALTH_INTERVAL_MS, notices.)',
    recipe: { method: 'GET', path: '/api/articles/', setup: 'app-stopped', link: true },
  },
  {
    code: 503, status: 503, reason: 'Service Unavailable', tier: 'web',
    meaning: 'Not able to answer now; Retry-After says when to try again (RFC 9110 §15.6.4).',
    why: 'Three refused connections within 10 s (WEB_PROXY_MAX_FAILS, WEB_PROXY_FAIL_TIMEOUT_MS), or a failed health check, take the app tier out of rotation: the web tier answers at once, with Retry-After, without trying it. (The app tier answers 503 itself while its database is down.)',
    recipe: { method: 'GET', path: '/api/articles/', setup: 'app-stopped', link: true, repeat: 4 },
  },
  {
    code: 504, status: 504, reason: 'Gateway Timeout', tier: 'web',
    meaning: 'The server behind the gateway did not answer in time (RFC 9110 §15.6.5).',
    why: 'The web tier’s WEB_PROXY_RESPONSE_TIMEOUT_MS ran out while the app tier was still working.',
    recipe: { method: 'GET', path: '/api/_fault/slow?ms=5000', setup: 'fault-routes', link: true },
  },
];

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The command a learner types for a recipe, against `base` (http://127.0.0.1:8080). */
export function recipeCommand(recipe: Recipe, base: string): string {
  const url = new URL(base);
  if (recipe.raw !== undefined) {
    return `printf ${shellQuote(recipe.raw.replace(/\r/g, '\\r').replace(/\n/g, '\\n'))} | nc ${url.hostname} ${url.port || '80'}`;
  }
  const parts = ['curl -i'];
  if (recipe.method !== 'GET' && recipe.method !== 'HEAD') parts.push(`-X ${recipe.method}`);
  if (recipe.repeat !== undefined) parts.unshift(`for i in $(seq ${recipe.repeat}); do`);
  for (const [name, value] of Object.entries(recipe.headers ?? {})) parts.push(`-H ${shellQuote(`${name}: ${value}`)}`);
  if (recipe.body !== undefined) parts.push(`-d ${shellQuote(recipe.body)}`);
  parts.push(recipe.path.startsWith('{') ? recipe.path : shellQuote(`${base}${recipe.path}`));
  // Repeated: only each status line, then the whole last answer.
  if (recipe.repeat !== undefined) return `${parts.join(' ')} | head -1; done`;
  return parts.join(' ');
}
