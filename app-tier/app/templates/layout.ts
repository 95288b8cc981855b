/** The page shell every HTML page shares, and the error page. */
import { html, type SafeHtml } from './html.js';

export interface LayoutOptions {
  readonly title: string;
  readonly main: SafeHtml;
  /** Shown in the footer, so a reader sees which process (worker, CGI child, web tier) rendered the page. */
  readonly workerPid?: number | undefined;
}

export function layout(options: LayoutOptions): SafeHtml {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · twotier</title>
<link rel="stylesheet" href="/static/site.css">
<script src="/static/site.js" defer></script>
</head>
<body>
<header class="site-header">
<a class="brand" href="/">twotier</a>
<nav><a href="/articles/">Archive</a> <a href="/articles/new/">Write an article</a> <a href="/api/echo">Request inspector</a></nav>
</header>
<main>
${options.main}
</main>
<footer class="site-footer">Rendered by the application${options.workerPid === undefined ? '' : html` in process <code>${options.workerPid}</code>`}; the styles and scripts are static files from the web tier.</footer>
</body>
</html>
`;
}

export interface ErrorPageOptions {
  readonly status: number;
  readonly title: string;
  readonly message: string;
  readonly requestId: string;
}

export function errorPage(options: ErrorPageOptions): SafeHtml {
  return layout({
    title: `${options.status} ${options.title}`,
    main: html`<h1>${options.status} ${options.title}</h1>
<p>${options.message}</p>
<p class="request-id">Request id: <code>${options.requestId}</code></p>`,
  });
}
