/**
 * A stub app tier that records every request its parser produces, for the smuggling invariant
 * ("for N client requests the app parses exactly N", issue 12): the count is taken on the app's
 * side of the socket, never from the web tier's logs. Each answer names the request it answers
 * (X-Echo-Id, from the `id` query parameter), so a client can tell its own answer from another's.
 */
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import { closeServer, listen, type Teardown } from './upstream.js';

export interface ParsedRequest {
  /** The `id` query parameter, or "" when the target had none (a request the test never sent). */
  readonly id: string;
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  /** What arrived of the body, latin1. */
  body: string;
  /** The body ended (false: the web tier cut it, e.g. the client left mid-body). */
  complete: boolean;
}

export interface RecordingUpstream {
  readonly url: string;
  readonly server: http.Server;
  /** Every request the app's parser produced, in order. */
  readonly parsed: ParsedRequest[];
  /** Bytes the app's parser refused (a desynchronised stream usually ends here). */
  readonly parseErrors: string[];
  /** TCP connections accepted so far. */
  connections(): number;
  /** Emits 'request' (ParsedRequest) as each request head is parsed. */
  readonly events: EventEmitter;
}

export async function startRecordingUpstream(t: Teardown): Promise<RecordingUpstream> {
  const parsed: ParsedRequest[] = [];
  const parseErrors: string[] = [];
  const events = new EventEmitter();
  // No Host requirement: a request that lost its Host on the way must still be counted, not
  // answered 400 by node before any 'request' event.
  const server = http.createServer({ requireHostHeader: false, keepAliveTimeout: 60_000 }, (req, res) => {
    const id = new URL(req.url ?? '/', 'http://x').searchParams.get('id') ?? '';
    const record: ParsedRequest = { id, method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body: '', complete: false };
    parsed.push(record);
    events.emit('request', record);
    req.setEncoding('latin1');
    req.on('data', (chunk: string) => {
      record.body += chunk;
    });
    req.on('error', () => undefined);
    req.on('end', () => {
      record.complete = true;
      const answer = JSON.stringify({ id, method: record.method, body: record.body, host: req.headers.host ?? null });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer), 'x-echo-id': id });
      res.end(req.method === 'HEAD' ? undefined : answer);
    });
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: net.Socket) => {
    // A reset (the web tier dropping a request whose client left) is no parse error.
    if (error.code?.startsWith('HPE_') === true) parseErrors.push(error.code);
    socket.destroy();
  });
  let accepted = 0;
  server.on('connection', () => {
    accepted += 1;
  });
  const port = await listen(server);
  t.teardown(() => closeServer(server));
  return { url: `http://127.0.0.1:${port}`, server, parsed, parseErrors, connections: () => accepted, events };
}
