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
