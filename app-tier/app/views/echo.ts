/**
 * The request inspector: shows the request exactly as the application received it, after it
 * crossed the web tier, and which worker process and local address answered.
 */
import type { View } from '../context.js';
import { json } from '../responses.js';

// Not fatal: the inspector shows any body; invalid UTF-8 becomes U+FFFD and bodyLength keeps the true size.
const lenientUtf8 = new TextDecoder('utf-8');

export const echo: View = async ({ request, deps }) =>
  json(200, {
    method: request.method,
    url: request.target,
    httpVersion: request.httpVersion,
    headers: request.headers,
    body: lenientUtf8.decode(request.body),
    bodyLength: request.body.byteLength,
    worker: { pid: deps.workerPid, address: request.localAddress, port: request.localPort },
  });
