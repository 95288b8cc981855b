/**
 * Request buffering (nginx `proxy_request_buffering on`): the whole request body is read in the
 * web tier before its request waits for an upstream slot, so a client that sends it a byte at a
 * time (slowhttptest's "slow body", R-U-Dead-Yet, or a slow 1 MB upload: issue 12 item 3) holds a
 * socket of the web tier, bounded by the server's requestTimeout, never a slot of the app tier.
 * Up to `memoryBytes` is held in memory (nginx `client_body_buffer_size`); a larger body goes to a
 * temp file (spill-file.ts), bounded by the body limit, whose space is given back on every way out.
 * Paths under a streaming prefix opt out: their bodies stream as they arrive (large uploads).
 */
import type { FileHandle } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { Readable, Writable } from 'node:stream';
import { TwotierError } from '../../common/errors.js';
import { bodyTooLargeError } from '../body-limit.js';
import type { BodyReplay } from './body-replay.js';
import type { SpillDir } from './spill-file.js';

/**
 * Whether a request's body is read whole before admission: buffering is on (`memoryBytes` > 0)
 * and the path is under none of the streaming prefixes. Any declared length up to the body limit
 * is buffered, and a chunked body too (RFC 9112 §7.1: read until it ends or passes the limit).
 */
export function buffersBody(pathname: string, memoryBytes: number, streamPrefixes: readonly string[]): boolean {
  if (memoryBytes === 0) return false;
  for (const prefix of streamPrefixes) if (pathname.startsWith(prefix)) return false;
  return true;
}

/** A header list with the web tier's framing for a buffered body: its exact length, no Transfer-Encoding. */
export function withContentLength(list: readonly string[], length: number): string[] {
  const out: string[] = [];
  for (let index = 0; index < list.length; index += 2) {
    const name = list[index] as string;
    if (isFramingField(name)) continue;
    out.push(name, list[index + 1] as string);
  }
  out.push('content-length', String(length));
  return out;
}

/** The same for a header object (the http-proxy engine copies req.headers). */
export function withContentLengthField(headers: IncomingHttpHeaders, length: number): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const name in headers) if (!isFramingField(name)) out[name] = headers[name];
  out['content-length'] = String(length);
  return out;
}

function isFramingField(name: string): boolean {
  return (name.length === 14 || name.length === 17) && /^(?:content-length|transfer-encoding)$/i.test(name);
}

/** A temp file that could not be made or written (a full or read-only disk): the web tier's own failure. */
export function bodyBufferFailed(cause: unknown): TwotierError {
  return new TwotierError('WEB_ERR_INTERNAL', 'request body could not be buffered', { cause });
}

export interface BufferedBodyOptions {
  /** Bytes held in memory; past them the whole body goes to a temp file. */
  readonly memoryBytes: number;
  /** The body limit: the temp file never grows past it. */
  readonly maxBytes: number;
  readonly dir: SpillDir;
  /** A retry resends a body up to this size (maxReplayBodyBytes); a larger one is never resent. */
  readonly maxReplayBytes: number;
  /** A temp file that fails while a copy is read (EIO): the exchange answers, the upstream request is cut. */
  readonly onReadError?: (error: Error) => void;
}

/** The temp files' disk budget is spent: 503 + Retry-After, like a full queue. */
export function tempSpaceFull(): TwotierError {
  return new TwotierError('WEB_ERR_OVERLOADED', 'request body temp space full', { headers: { 'Retry-After': '1' } });
}

/**
 * A writable that keeps a whole body, in memory then in a temp file. Once it has finished,
 * `open()` gives a stream of the body from its first byte, as often as asked (the first attempt,
 * then a retry: `replay()`). `destroy()` gives everything back: readers stop, the file closes.
 */
export class BufferedBody extends Writable implements BodyReplay {
  #chunks: Buffer[] = [];
  #bytes = 0;
  #file: FileHandle | undefined;
  /** The write or open in progress: the file is closed only once it has settled. */
  #pending: Promise<unknown> = Promise.resolve();
  #reserved = 0;
  readonly #readers = new Set<Readable>();
  readonly #options: BufferedBodyOptions;

  constructor(options: BufferedBodyOptions) {
    // Not destroyed at 'finish': the copy lives until the response is done (destroy()).
    super({ highWaterMark: 64 * 1024, autoDestroy: false });
    this.#options = options;
  }

  /** Bytes received so far; the whole body's length once finished. */
  get bytes(): number {
    return this.#bytes;
  }

  /** True once the body went to a temp file. */
  get spilled(): boolean {
    return this.#file !== undefined;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const total = this.#bytes + chunk.length;
    // The body limit stream in front already answers 413; this keeps the file bounded on its own.
    if (total > this.#options.maxBytes) {
      callback(bodyTooLargeError(this.#options.maxBytes));
      return;
    }
    if (this.#file === undefined && total <= this.#options.memoryBytes) {
      this.#chunks.push(chunk);
      this.#bytes = total;
      callback();
      return;
    }
    const more = chunk.length + (this.#file === undefined ? this.#bytes : 0);
    if (!this.#options.dir.reserve(more)) {
      callback(tempSpaceFull());
      return;
    }
    this.#reserved += more;
    const written = this.#spill(chunk);
    this.#pending = written.catch(() => undefined);
    written.then(() => callback(), (error: Error) => callback(error));
  }

  async #spill(chunk: Buffer): Promise<void> {
    if (this.#file === undefined) {
      const file = await this.#options.dir.createFile();
      this.#file = file;
      if (this.destroyed) return;
      const kept = Buffer.concat([...this.#chunks, chunk]);
      this.#chunks = [];
      await writeAll(file, kept, 0);
    } else {
      await writeAll(this.#file, chunk, this.#bytes);
    }
    this.#bytes += chunk.length;
  }

  /** A fresh stream of the whole body (call once finished). Read errors are emitted on the stream. */
  open(): Readable {
    if (this.#file === undefined) return Readable.from(this.#chunks, { objectMode: false });
    const reader = fileReader(this.#file, this.#bytes);
    this.#readers.add(reader);
    reader.once('close', () => this.#readers.delete(reader));
    // After destroy() a reader may still report the closed handle (EBADF): nobody is listening then.
    reader.on('error', (error) => {
      if (!this.destroyed) this.#options.onReadError?.(error);
    });
    return reader;
  }

  /** BodyReplay: a retry resends the buffered copy, when it is whole and within the replay bound. */
  replay(): Readable | undefined {
    if (!this.writableFinished || this.destroyed || this.#bytes > this.#options.maxReplayBytes) return undefined;
    return this.open();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#chunks = [];
    for (const reader of this.#readers) reader.destroy();
    const { dir } = this.#options;
    const reserved = this.#reserved;
    this.#reserved = 0;
    // FileHandle.close() waits for reads in flight, and a closed handle fails later reads with
    // EBADF instead of reading whatever a reused descriptor number would point to.
    void this.#pending.then(async () => {
      await this.#file?.close().catch(() => undefined);
      dir.release(reserved);
      callback(error);
    });
  }
}

/**
 * A stream of the first `length` bytes of `file`, by positioned reads: as many at once as a retry
 * needs. Not FileHandle.createReadStream: destroying one of those closes the handle whatever its
 * autoClose says, and the next attempt would find it closed.
 */
function fileReader(file: FileHandle, length: number): Readable {
  let position = 0;
  return new Readable({
    highWaterMark: READ_BYTES,
    read(size) {
      const want = Math.min(size, READ_BYTES, length - position);
      if (want <= 0) {
        this.push(null);
        return;
      }
      const buffer = Buffer.allocUnsafe(want);
      file.read(buffer, 0, want, position).then(({ bytesRead }) => {
        if (bytesRead === 0) {
          this.destroy(new Error('temp file shorter than the body it holds'));
          return;
        }
        position += bytesRead;
        this.push(bytesRead === want ? buffer : buffer.subarray(0, bytesRead));
      }, (error: Error) => this.destroy(error));
    },
  });
}

const READ_BYTES = 64 * 1024;

async function writeAll(file: FileHandle, data: Buffer, position: number): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await file.write(data, offset, data.length - offset, position + offset);
    offset += bytesWritten;
  }
}
