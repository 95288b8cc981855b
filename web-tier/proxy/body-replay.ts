/**
 * The copy of a request body a retry resends, so that a request refused or reset before any
 * answer can be sent again to another upstream. A buffered body (body-buffer.ts) is its own copy,
 * whatever its size. A body that streams (a streaming prefix, or buffering off) is copied as it
 * passes by a ReplayRecorder, bounded: past `maxBytes` the copy is dropped and the request is
 * simply not replayable (http-proxy#180: a streamed body is never held whole).
 */
import { Readable, Transform, type TransformCallback } from 'node:stream';

/** What forward.ts asks when it retries: a fresh stream of the whole body, or undefined when there is none to resend. */
export interface BodyReplay {
  replay(): Readable | undefined;
}

export class ReplayRecorder extends Transform implements BodyReplay {
  #chunks: Buffer[] | undefined = [];
  #bytes = 0;
  #complete = false;
  readonly #maxBytes: number;

  constructor(maxBytes: number) {
    super();
    this.#maxBytes = maxBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#chunks !== undefined) {
      this.#bytes += chunk.length;
      if (this.#bytes > this.#maxBytes) this.#chunks = undefined;
      else this.#chunks.push(chunk);
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.#complete = true;
    callback();
  }

  /**
   * A fresh stream of the whole body, or undefined when it was too large to keep or has not
   * fully arrived (the first attempt stopped reading it: the rest can no longer be replayed).
   */
  replay(): Readable | undefined {
    if (!this.#complete || this.#chunks === undefined) return undefined;
    return Readable.from(this.#chunks, { objectMode: false });
  }
}
