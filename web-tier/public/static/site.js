// Progressive enhancement only: every page works without this file.
// On the home page (a static file), ask the request inspector (a dynamic route) and show which
// app-tier worker answered and what the web tier added on the way, so static and dynamic sit side by side.
'use strict';

(function showWhoAnswered() {
  const note = document.querySelector('[data-echo]');
  const output = document.querySelector('[data-echo-output]');
  if (note === null || output === null || typeof fetch !== 'function') return;

  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 5000);
  fetch('/api/echo', { headers: { accept: 'application/json' }, signal: controller.signal })
    .then((response) => {
      if (!response.ok) throw new Error(`the request inspector answered ${response.status}`);
      return response.json();
    })
    .then((echo) => {
      note.textContent = `The request inspector was answered by app-tier worker pid ${echo.worker.pid} ` +
        `on ${echo.worker.address}:${echo.worker.port}. This is the request as that worker received it:`;
      const lines = [`${echo.method} ${echo.url} HTTP/${echo.httpVersion}`];
      for (const [name, value] of Object.entries(echo.headers)) lines.push(`${name}: ${value}`);
      output.textContent = lines.join('\n');
      output.hidden = false;
    })
    .catch((error) => {
      note.textContent = `The dynamic part could not be reached (${error.message}); the static page still works.`;
    })
    .finally(() => clearTimeout(timer));
})();

// The fragment demo: ask the request inspector for this page's own query and fragment, and show that
// what reached the server has the query but never the fragment (RFC 3986 §3.5; fetch drops it too).
(function showFragment() {
  const note = document.querySelector('[data-fragment]');
  const output = document.querySelector('[data-fragment-output]');
  if (note === null || output === null || typeof fetch !== 'function') return;
  const asked = `/api/echo${location.search}${location.hash}`;
  fetch(asked, { headers: { accept: 'application/json' } })
    .then((response) => {
      if (!response.ok) throw new Error(`the request inspector answered ${response.status}`);
      return response.json();
    })
    .then((echo) => {
      const parts = echo.urlParts || {};
      note.textContent = 'What the address bar holds, and what the server received for the same address:';
      output.textContent = [
        `in the browser:      ${asked}`,
        `fragment (browser):  ${location.hash === '' ? '(none)' : location.hash.slice(1)}`,
        `the server received: ${echo.url}`,
        `fragment (server):   ${parts.fragment ? parts.fragment : '(none: it never left the browser)'}`,
      ].join('\n');
      output.hidden = false;
    })
    .catch((error) => {
      note.textContent = `The request inspector could not be reached (${error.message}).`;
    });
})();

// The archive index's "Latest" list follows the live feed (Server-Sent Events: /api/articles/events):
// a new article appears at the top, an edited one is renamed, a deleted one goes, without a reload.
// EventSource reconnects by itself and sends Last-Event-ID, so a worker's restart loses nothing.
// The Content-Security-Policy's default-src 'self' covers it (same origin).
(function followLiveArticles() {
  const list = document.querySelector('[data-live-articles]');
  if (list === null || typeof EventSource !== 'function') return;
  const itemOf = (id) => list.querySelector(`li[data-article-id="${Number(id)}"]`);
  const source = new EventSource('/api/articles/events');
  const read = (event) => JSON.parse(event.data).article;
  source.addEventListener('article.created', (event) => {
    const article = read(event);
    if (itemOf(article.id) !== null) return;
    const item = document.createElement('li');
    item.dataset.articleId = String(article.id);
    const link = document.createElement('a');
    link.href = article.page || article.url;
    link.textContent = article.title;
    item.append(link, ' (new)');
    list.prepend(item);
  });
  source.addEventListener('article.updated', (event) => {
    const article = read(event);
    const link = itemOf(article.id)?.querySelector('a');
    if (link) {
      link.textContent = article.title;
      if (article.page) link.href = article.page;
    }
  });
  source.addEventListener('article.deleted', (event) => itemOf(read(event).id)?.remove());
})();
