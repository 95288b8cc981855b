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
