/**
 * The application interface over CGI (RFC 3875): the meta-variables and stdin become one
 * AppRequest, the AppResponse becomes CGI output on stdout (`Status:` line, header fields, a
 * blank line, the body). The same Application that runs in the cluster workers runs here, once,
 * in a process started for this one request.
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Readable, Writable } from 'node:stream';
import type { AppBody, AppRequest, AppResponse, Application } from '../common/app-interface.js';

export type CgiEnv = Readonly<Record<string, string | undefined>>;

/** Characters a path may carry as they are (RFC 3986 §3.3 pchar plus "/"); everything else is percent-encoded. */
const NEEDS_ENCODING = /[^A-Za-z0-9\-._~!$&'()*+,;=:@/]+/gu;

/** PATH_INFO is decoded (RFC 3875 §4.1.5); a request-target is not: encode it back. */
export function encodePathInfo(pathInfo: string): string {
  return pathInfo.replace(NEEDS_ENCODING, (run) => encodeURIComponent(run));
}

/**
 * The request-target the application sees: the part after SCRIPT_NAME. Taken from REQUEST_URI
 * (which this project's gateway and Apache set) when it starts with SCRIPT_NAME, since it keeps
 * the client's exact bytes; else rebuilt from PATH_INFO and QUERY_STRING, which loses only how
 * the client chose to percent-encode.
 */
export function targetFromEnv(env: CgiEnv): string {
  const scriptName = env['SCRIPT_NAME'] ?? '';
  const requestUri = env['REQUEST_URI'];
  if (requestUri !== undefined && scriptName !== '' && requestUri.startsWith(scriptName)) {
    const rest = requestUri.slice(scriptName.length);
    if (rest === '' || rest.startsWith('/')) return rest === '' ? '/' : rest;
    if (rest.startsWith('?')) return `/${rest}`;
  }
  const path = encodePathInfo(env['PATH_INFO'] ?? '') || '/';
  const query = env['QUERY_STRING'] ?? '';
  return query === '' ? path : `${path}?${query}`;
}

/** HTTP_ACCEPT_LANGUAGE → accept-language, plus the two fields RFC 3875 §4.1.2/§4.1.3 carry separately. */
export function headersFromEnv(env: CgiEnv): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || !name.startsWith('HTTP_')) continue;
    headers[name.slice(5).toLowerCase().replace(/_/g, '-')] = value;
  }
  if (env['CONTENT_TYPE'] !== undefined) headers['content-type'] = env['CONTENT_TYPE'];
  if (env['CONTENT_LENGTH'] !== undefined) headers['content-length'] = env['CONTENT_LENGTH'];
  return headers;
}

function toPort(value: string | undefined): number {
  const port = Number(value);
  return Number.isInteger(port) && port >= 0 && port <= 65535 ? port : 0;
}

/**
 * Reads exactly CONTENT_LENGTH bytes (RFC 3875 §4.2: the script must not read past it, and the
 * server need not send EOF). No CONTENT_LENGTH means no body: stdin is not touched.
 */
async function readBody(stdin: Readable, contentLength: string | undefined): Promise<Buffer> {
  const length = contentLength !== undefined && /^\d+$/.test(contentLength) ? Number(contentLength) : 0;
  if (length === 0) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    chunks.push(buffer);
    size += buffer.length;
    if (size >= length) break;
  }
  return Buffer.concat(chunks, size).subarray(0, length);
}

export async function requestFromCgi(env: CgiEnv, stdin: Readable): Promise<AppRequest> {
  const protocol = env['SERVER_PROTOCOL'] ?? 'HTTP/1.0';
  return {
    method: env['REQUEST_METHOD'] ?? 'GET',
    target: targetFromEnv(env),
    httpVersion: protocol.startsWith('HTTP/') ? protocol.slice(5) : '1.0',
    headers: headersFromEnv(env),
    body: await readBody(stdin, env['CONTENT_LENGTH']),
    remoteAddress: env['REMOTE_ADDR'] ?? '',
    remotePort: toPort(env['REMOTE_PORT']),
    // SERVER_ADDR (Apache's, and this gateway's) is the real local address; SERVER_NAME may be a host name.
    localAddress: env['SERVER_ADDR'] ?? env['SERVER_NAME'] ?? '',
    localPort: toPort(env['SERVER_PORT']),
    requestId: env['HTTP_X_REQUEST_ID'] ?? randomUUID(),
  };
}

/** Fields a CGI response must not carry: the gateway decides framing (RFC 3875 §6.3.4). */
const NOT_WRITTEN = new Set(['status', 'connection', 'transfer-encoding', 'keep-alive']);

function knownLength(body: AppBody): number | undefined {
  if (body === null) return 0;
  if (typeof body === 'string') return Buffer.byteLength(body);
  if (body instanceof Uint8Array) return body.byteLength;
  return undefined;
}

/** The CGI header section: `Status: 201 Created`, the fields, a blank line (RFC 3875 §6.3). */
export function headSection(response: AppResponse): string {
  const lines = [`Status: ${response.status} ${STATUS_CODES[response.status] ?? 'Unknown'}`];
  let hasLength = false;
  for (const [name, value] of Object.entries(response.headers)) {
    const lower = name.toLowerCase();
    if (NOT_WRITTEN.has(lower)) continue;
    if (lower === 'content-length') hasLength = true;
    for (const one of typeof value === 'string' ? [value] : value) {
      // A CR or LF in a value would end the header section early: the line is dropped instead.
      if (!/[\r\n]/.test(one)) lines.push(`${name}: ${one}`);
    }
  }
  const length = knownLength(response.body);
  if (!hasLength && length !== undefined && length > 0) lines.push(`Content-Length: ${length}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

function write(stdout: Writable, chunk: Uint8Array | string): Promise<void> {
  return new Promise((resolve, reject) => {
    stdout.write(chunk, (error) => (error === null || error === undefined ? resolve() : reject(error)));
  });
}

async function writeResponse(response: AppResponse, stdout: Writable): Promise<void> {
  await write(stdout, headSection(response));
  const body = response.body;
  if (body === null) return;
  if (typeof body === 'string' || body instanceof Uint8Array) {
    if (body.length > 0) await write(stdout, body);
    return;
  }
  for await (const chunk of body) await write(stdout, chunk);
}

/**
 * One CGI request: env + stdin → app.handle → stdout. The application answers its own errors
 * (500 with the request id); should handle() itself throw, a bare 500 is written so the gateway
 * does not have to call it malformed output. stdout is left open: the caller owns it.
 */
export async function runCgi(app: Application, env: CgiEnv, stdin: Readable, stdout: Writable): Promise<void> {
  const request = await requestFromCgi(env, stdin);
  let response: AppResponse;
  try {
    response = await app.handle(request);
  } catch (error) {
    await writeResponse({ status: 500, headers: { 'Content-Type': 'text/plain; charset=utf-8', 'X-Request-Id': request.requestId }, body: 'Internal Server Error\n' }, stdout);
    throw error;
  }
  await writeResponse(response, stdout);
}
