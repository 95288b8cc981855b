/**
 * The request inspector: shows the request exactly as the application received it, after it
 * crossed the web tier, and which worker process and local address answered. Credentials are
 * the exception: they are shown as having arrived, with their size, never their value.
 */
import type { AppHeaders } from '../../../common/app-interface.js';
import type { View } from '../context.js';
import { json } from '../responses.js';
import { urlParts, UrlPartsError } from '../url-parts.js';
import { FRAGMENT_NOTE } from './urlparse.js';

// Not fatal: the inspector shows any body; invalid UTF-8 becomes U+FFFD and bodyLength keeps the true size.
const lenientUtf8 = new TextDecoder('utf-8');

/**
 * Issue 12.6: echoing these would hand any same-origin script an HttpOnly cookie or a bearer
 * token, which is why TRACE is refused (cross-site tracing); the echo must not reopen it.
 */
const CREDENTIAL_FIELDS: ReadonlySet<string> = new Set(['authorization', 'proxy-authorization', 'cookie']);

/** Octets as received: node decodes field values as latin1, one character per octet. */
function redacted(value: string): string {
  return `[redacted, ${Buffer.byteLength(value, 'latin1')} bytes]`;
}

function shownHeaders(headers: AppHeaders): AppHeaders {
  const shown: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) shown[name] = CREDENTIAL_FIELDS.has(name) ? redacted(value) : value;
  return shown;
}

/**
 * The URL the request named, taken apart as /api/urlparse does. The request line carries only
 * the path and query (origin-form, RFC 9112 §3.2.1): scheme and authority come from the web
 * tier's X-Forwarded-Proto and the Host header, and the fragment is always empty.
 */
function receivedUrl(request: { target: string; headers: AppHeaders }): string {
  if (!request.target.startsWith('/')) return request.target;
  const proto = request.headers['x-forwarded-proto'] === 'https' ? 'https' : 'http';
  return `${proto}://${request.headers['host'] ?? ''}${request.target}`;
}

/** urlParts of the URL as received; a Host urlparse refuses (only reachable at the app tier's own port) is said, not a 500. */
function receivedParts(request: { target: string; headers: AppHeaders }): Record<string, unknown> {
  const url = receivedUrl(request);
  try {
    return { url, ...urlParts(url), note: FRAGMENT_NOTE };
  } catch (error) {
    if (error instanceof UrlPartsError) return { url, error: error.message, note: FRAGMENT_NOTE };
    throw error;
  }
}

export const echo: View = async ({ request, deps }) =>
  json(200, {
    method: request.method,
    url: request.target,
    httpVersion: request.httpVersion,
    headers: shownHeaders(request.headers),
    body: lenientUtf8.decode(request.body),
    bodyLength: request.body.byteLength,
    worker: { pid: deps.workerPid, address: request.localAddress, port: request.localPort },
    urlParts: receivedParts(request),
  });
