/**
 * Parses a CGI script's response header section (RFC 3875 §6): header lines ended by LF or
 * CRLF (§6.3: NL), then an empty line, then the body. Fed chunk by chunk as stdout arrives, so
 * the body after the header section can be streamed on without buffering it.
 */

/** Output the gateway cannot turn into an HTTP response: 502 with the request id. */
export class CgiOutputError extends Error {
  readonly code = 'CGI_BAD_OUTPUT';
  constructor(message: string) {
    super(message);
    this.name = 'CgiOutputError';
  }
}

/** RFC 3875 §6.2.2: reprocess the request at this local path (and query) instead. */
export interface LocalRedirect {
  readonly kind: 'local-redirect';
  /** Path and query, e.g. "/cgi-bin/app/next?x=1". */
  readonly location: string;
}

/** A document or client-redirect response (RFC 3875 §6.2.1, §6.2.3, §6.2.4). */
export interface CgiDocument {
  readonly kind: 'document';
  readonly status: number;
  /** The script's reason phrase when it gave a usable one. */
  readonly reason: string | undefined;
  /** Field lines to send, in order, names as the script wrote them. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** The script's Content-Length, when it gave one: the gateway holds the body to it. */
  readonly contentLength: number | undefined;
}

export type CgiHead = LocalRedirect | CgiDocument;

export interface ParseProgress {
  readonly head: CgiHead;
  /** Body bytes that arrived in the same chunk as the end of the header section. */
  readonly rest: Buffer;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** field-value must not hold CTLs other than HTAB (RFC 9110 §5.5): a bare CR would split the response. */
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
/**
 * Fields the gateway owns: framing and connection management are decided by this server, not the
 * script (RFC 9110 §7.6.1 hop-by-hop; RFC 3875 §6.3.4 lets the server rewrite such fields).
 */
const DROPPED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);
const ABSOLUTE_URI = /^[A-Za-z][A-Za-z0-9+.-]*:/;

/** Interprets the header lines once the section is complete. */
export function interpretHead(lines: readonly string[]): CgiHead {
  if (lines.length === 0) throw new CgiOutputError('script printed no header fields');
  let status: number | undefined;
  let reason: string | undefined;
  let location: string | undefined;
  let contentType = false;
  let contentLength: number | undefined;
  const headers: Array<readonly [string, string]> = [];

  for (const line of lines) {
    // obs-fold (a line starting with whitespace) is rejected, as RFC 9112 §5.2 lets a recipient do.
    const colon = line.indexOf(':');
    const name = colon === -1 ? '' : line.slice(0, colon);
    if (!TOKEN.test(name)) throw new CgiOutputError('malformed header line');
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (BAD_VALUE.test(value)) throw new CgiOutputError(`control character in ${name}`);
    const lower = name.toLowerCase();
    if (lower === 'status') {
      // RFC 3875 §6.3.3: Status = status-code SP reason-phrase
      const match = /^([1-5]\d\d)(?:[ \t]+(.*))?$/.exec(value);
      if (match === null || status !== undefined) throw new CgiOutputError('malformed or repeated Status');
      status = Number(match[1]);
      if (status < 200) throw new CgiOutputError('a CGI response cannot be informational');
      reason = match[2] === undefined || match[2] === '' ? undefined : match[2];
      continue;
    }
    if (lower === 'location') {
      if (location !== undefined) throw new CgiOutputError('repeated Location');
      location = value;
    } else if (lower === 'content-type') {
      contentType = true;
    } else if (lower === 'content-length') {
      if (!/^\d{1,15}$/.test(value) || contentLength !== undefined) throw new CgiOutputError('malformed Content-Length');
      contentLength = Number(value);
    }
    if (DROPPED.has(lower)) continue;
    headers.push([name, value]);
  }

  if (location !== undefined && (status === undefined || status === 200)) {
    // RFC 3875 §6.2.2: a local path means "serve this instead"; `//host` is a network-path
    // reference, not a local path, and would be an open redirect if passed on.
    if (location.startsWith('/') && !location.startsWith('//')) return { kind: 'local-redirect', location };
    // RFC 3875 §6.2.3: an absolute URI without a Status is a client redirect, 302 Found.
    if (ABSOLUTE_URI.test(location) && status === undefined) status = 302;
    else if (status === undefined) throw new CgiOutputError('Location is neither a local path nor an absolute URI');
  }
  // RFC 3875 §6.2: every response names its type, a redirect, or at least its status.
  if (status === undefined && !contentType) throw new CgiOutputError('no Content-Type, Location or Status');
  return { kind: 'document', status: status ?? 200, reason, headers, contentLength };
}

/** Incremental parser: push() chunks until it returns the head; end() when stdout ended first. */
export class CgiHeadParser {
  private buffered: Buffer = Buffer.alloc(0);
  private readonly lines: string[] = [];
  private scanned = 0;
  private lineStart = 0;
  private done = false;

  constructor(private readonly maxHeadBytes: number) {}

  push(chunk: Buffer): ParseProgress | undefined {
    if (this.done) throw new Error('header section already parsed');
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    for (;;) {
      const newline = this.buffered.indexOf(0x0a, this.scanned);
      if (newline === -1) {
        this.scanned = this.buffered.length;
        if (this.buffered.length > this.maxHeadBytes) throw new CgiOutputError('header section too large');
        return undefined;
      }
      let end = newline;
      if (end > this.lineStart && this.buffered[end - 1] === 0x0d) end -= 1;
      const line = this.buffered.subarray(this.lineStart, end).toString('latin1');
      this.scanned = newline + 1;
      this.lineStart = newline + 1;
      if (this.lineStart > this.maxHeadBytes) throw new CgiOutputError('header section too large');
      if (line === '') {
        this.done = true;
        return { head: interpretHead(this.lines), rest: this.buffered.subarray(this.lineStart) };
      }
      this.lines.push(line);
    }
  }

  /** stdout ended before the empty line: no usable header section. */
  end(): never {
    throw new CgiOutputError(this.lines.length === 0 && this.buffered.length === 0 ? 'script printed nothing' : 'header section not terminated');
  }
}
