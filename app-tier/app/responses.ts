/**
 * Building AppResponse values. Every body the application builds is a string or bytes, so
 * Content-Length is always known; `finalise()` then applies the rules the adapters rely on
 * (common/app-interface.ts): no body for HEAD, 204 or 304.
 */
import type { AppResponse, AppResponseHeaders } from '../../common/app-interface.js';
import type { SafeHtml } from './templates/html.js';

/** RFC 8259 §11: application/json defines no charset parameter; JSON is UTF-8. */
export const JSON_TYPE = 'application/json';
export const HTML_TYPE = 'text/html; charset=utf-8';

/**
 * Pages load their CSS and JS from the web tier's /static/ on the same origin, so nothing else
 * needs to be allowed; form-action keeps a forged form from posting elsewhere.
 */
const HTML_SECURITY: AppResponseHeaders = {
  'Content-Security-Policy': "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
};

export function json(status: number, value: unknown, headers: AppResponseHeaders = {}): AppResponse {
  // Indented with a final newline: the API is read with curl in a terminal as often as by code.
  const body = `${JSON.stringify(value, null, 2)}\n`;
  return {
    status,
    headers: { 'Content-Type': JSON_TYPE, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', ...headers },
    body,
  };
}

export function html(status: number, page: SafeHtml, headers: AppResponseHeaders = {}): AppResponse {
  return {
    status,
    headers: { 'Content-Type': HTML_TYPE, 'Cache-Control': 'no-cache', ...HTML_SECURITY, ...headers },
    body: page.value,
  };
}

export function redirect(status: 301 | 303 | 308, location: string, headers: AppResponseHeaders = {}): AppResponse {
  return { status, headers: { Location: location, ...headers }, body: '' };
}

export function noContent(headers: AppResponseHeaders = {}): AppResponse {
  return { status: 204, headers, body: null };
}

function hasHeader(headers: AppResponseHeaders, name: string): boolean {
  return Object.keys(headers).some((key) => key.toLowerCase() === name);
}

/**
 * Sets Content-Length for a known body, then drops what must not be sent: RFC 9110 §9.3.2 (HEAD:
 * the same header fields as GET, no content) and §8.6 / §15.3.5 (no Content-Length, no content
 * in a 204) and §15.4.5 (no content in a 304).
 */
export function finalise(method: string, response: AppResponse): AppResponse {
  const { status } = response;
  let headers = response.headers;
  if (status === 204 || status === 304) {
    headers = Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'content-length'));
    return { status, headers, body: null };
  }
  const { body } = response;
  if (!hasHeader(headers, 'content-length') && (typeof body === 'string' || body instanceof Uint8Array || body === null)) {
    const length = body === null ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
    headers = { ...headers, 'Content-Length': String(length) };
  }
  return { status, headers, body: method === 'HEAD' ? null : body };
}
