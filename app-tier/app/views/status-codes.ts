/** GET /status-codes/: the chapter's status codes, where each is produced and how to see it live. */
import type { View } from '../context.js';
import { html as htmlResponse } from '../responses.js';
import { recipeCommand, SETUPS, STATUS_CODES } from '../status-codes.js';
import { html } from '../templates/html.js';
import { layout } from '../templates/layout.js';

const DEFAULT_HOST = '127.0.0.1:8080';

/**
 * A Host safe to put in a shell command unquoted (the nc line) and that the URL parser takes: a
 * DNS name or IPv4 address, or a bracketed IPv6 address, with an optional port. A Host is client
 * bytes, and RFC 3986 §3.2.2's reg-name admits sub-delims ($ ' ( ) ; &), which are shell syntax.
 */
const PLAIN_HOST = /^(?:[A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$/;

function plainHost(host: string | undefined): string {
  const match = host === undefined ? null : PLAIN_HOST.exec(host);
  if (host === undefined || match === null || Number(match[1] ?? 0) > 65535 || !URL.canParse(`http://${host}`)) return DEFAULT_HOST;
  return host;
}

/** The address the reader used (Host, and the scheme the web tier saw), so commands are copyable as they are. */
function baseOf(headers: Readonly<Record<string, string>>): string {
  const host = plainHost(headers['host']);
  const proto = headers['x-forwarded-proto'] === 'https' ? 'https' : 'http';
  return `${proto}://${host}`;
}

export const statusCodesPage: View = async ({ request, deps }) => {
  const base = baseOf(request.headers);
  const rows = STATUS_CODES.map((entry) => {
    const { recipe } = entry;
    const setup = SETUPS[recipe.setup];
    return html`<tr id="code-${String(entry.code)}">
<th scope="row">${String(entry.code)}<br><small>${entry.reason}</small></th>
<td>${entry.meaning}</td>
<td><strong>${entry.tier} tier</strong>: ${entry.why}</td>
<td>${setup === '' ? '' : html`<p><em>${setup}</em></p>`}<pre><code>${recipeCommand(recipe, base)}</code></pre>${recipe.link ? html`<a href="${recipe.path}">open in the browser</a>` : ''}</td>
</tr>`;
  });
  const main = html`<h1>Status codes</h1>
<p>Every code of the chapter’s table, produced by this project where it belongs: the web tier answers for HTTP itself and for
the gateway (what it sees of the app tier), the application answers for what only it knows (its URLs, its data, who may write).
The <code>X-Served-By</code> header of each answer says which tier produced it. Each command below works on your machine.</p>
<table class="status-codes">
<thead><tr><th>Code</th><th>Meaning</th><th>Produced by, and why there</th><th>Try it</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`;
  return htmlResponse(200, layout({ title: 'Status codes', main, workerPid: deps.workerPid }));
};
